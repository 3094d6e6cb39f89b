package config

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestADCSBackend(t *testing.T) {
	ok := `{"baseURL":"https://ca01.corp.test/certsrv","template":"WebServer","auth":{"method":"kerberos","realm":"CORP.TEST","kdc":["dc01.corp.test:88"],"username":"svc","keytabFile":"/k"}}`
	bs, err := parseBackends("ACMERA_PROFILES", map[string]json.RawMessage{"corp": json.RawMessage(`{"adcs":` + ok + `}`)})
	if err != nil || len(bs) != 1 || bs[0].Type != "adcs" || bs[0].ADCS.Auth.Realm != "CORP.TEST" {
		t.Fatalf("parseBackends: %+v, %v", bs, err)
	}
	for body, want := range map[string]string{
		`{"baseURL":"http://ca01","auth":{"method":"ntlm","username":"u","domain":"D","passwordFile":"/p"}}`:                          "adcs.baseURL",
		`{"baseURL":"https://ca01","auth":{"method":"basic","username":"u"}}`:                                                         "adcs.auth.method",
		`{"baseURL":"https://ca01","auth":{"method":"ntlm","username":"u","passwordFile":"/p"}}`:                                      "adcs.auth.domain",
		`{"baseURL":"https://ca01","auth":{"method":"kerberos","username":"u","realm":"R","keytabFile":"/k"}}`:                        "adcs.auth.kdc",
		`{"baseURL":"https://ca01","auth":{"method":"kerberos","username":"u","realm":"R","kdc":["k:88"]}}`:                           "keytabFile and passwordFile",
		`{"baseURL":"https://ca01","revocation":"dcom","auth":{"method":"ntlm","username":"u","domain":"D","passwordFile":"/p"}}`:     "adcs.caName",
		`{"baseURL":"https://ca01","revocation":"winrm","auth":{"method":"ntlm","username":"u","domain":"D","passwordFile":"/p"}}`:    "adcs.revocation",
		`{"baseURL":"https://ca01","approvalDeadline":"1d","auth":{"method":"ntlm","username":"u","domain":"D","passwordFile":"/p"}}`: "adcs.approvalDeadline",
		`{"baseURL":"https://ca01","template":"a:b","auth":{"method":"ntlm","username":"u","domain":"D","passwordFile":"/p"}}`:        "adcs.template",
		`{"baseURL":"https://ca01","bogus":1,"auth":{"method":"ntlm","username":"u","domain":"D","passwordFile":"/p"}}`:               "bogus",
	} {
		_, err := parseBackends("ACMERA_PROFILES", map[string]json.RawMessage{"corp": json.RawMessage(`{"adcs":` + body + `}`)})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ACMERA_PROFILES: backends.corp") {
			t.Errorf("%s: %v, want an error naming backends.corp and %s", body, err, want)
		}
	}
}
