package adcs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/midl/uuid"
	"github.com/oiweiwei/go-msrpc/msrpc/dcom"
	icertadmind "github.com/oiweiwei/go-msrpc/msrpc/dcom/csra/icertadmind/v0"
	"github.com/oiweiwei/go-msrpc/msrpc/dcom/iactivation/v0"
	"github.com/oiweiwei/go-msrpc/msrpc/dcom/iobjectexporter/v0"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/hresult"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/oiweiwei/go-msrpc/ssp/gssapi"
	"github.com/oiweiwei/go-msrpc/ssp/krb5"

	"github.com/acmera/acmera/pkg/ca"
)

// DCOMConfig says where and as whom MS-CSRA revocations go. The account
// (the backend's Auth) needs the CA's "Issue and Manage Certificates"
// (officer) right. Not verified end to end: it needs a Windows AD CS.
type DCOMConfig struct {
	// Server is the CA host (endpoint mapper on TCP 135, then a dynamic
	// port); empty means BaseURL's host.
	Server string
	// Authority is the CA's name, as in certutil -config HOST\NAME.
	Authority string
	// Timeout bounds the whole revocation; zero means 30 s.
	Timeout time.Duration
}

func (d DCOMConfig) check() error {
	if d.Authority == "" {
		return errors.New("authority (the CA's name, as in certutil -config HOST\\NAME) is required for DCOM revocation")
	}
	return nil
}

// clsidCertAdminD is CLSID_CCertAdminD (MS-CSRA 1.9).
var clsidCertAdminD = dtyp.GUIDFromUUID(uuid.MustParse("d99e6e73-fc88-11d0-b498-00a0c90312f3"))

// CA_DISP_REVOKED of IsValidCertificate (MS-CSRA 3.1.4.1.11).
const dispositionRevoked = 2

// revokeCertificateRequest is the opnum 10 request: the CA, the serial in
// plain hexadecimal, the reason and the revocation date.
func revokeCertificateRequest(comVersion *dcom.COMVersion, authority, serial string, reason uint32, at time.Time) *icertadmind.RevokeCertificateRequest {
	low, high := filetime(at)
	return &icertadmind.RevokeCertificateRequest{
		This:         &dcom.ORPCThis{Version: comVersion},
		Authority:    authority,
		SerialNumber: serial,
		Reason:       reason,
		FileTime:     &dtyp.Filetime{LowDateTime: low, HighDateTime: high},
	}
}

// securityOptions are the DCE/RPC security options of every bind: packet
// privacy (RPC_C_AUTHN_LEVEL_PKT_PRIVACY) with the backend's account.
func (i *Issuer) securityOptions(server string) ([]dcerpc.Option, error) {
	opts := []dcerpc.Option{dcerpc.WithSeal(), dcerpc.WithTargetName(server)}
	switch a := i.auth.(type) {
	case NTLM:
		pw, err := readSecret(a.PasswordFile)
		if err != nil {
			return nil, err
		}
		return append(opts, dcerpc.WithMechanism(ssp.NTLM), dcerpc.WithCredentials(credential.NewFromPassword(a.principal(), pw))), nil
	case Kerberos:
		kcfg, err := a.krb5Conf()
		if err != nil {
			return nil, err
		}
		var cred credential.Credential
		if a.KeytabFile != "" {
			kt, err := keytab.Load(a.KeytabFile)
			if err != nil {
				return nil, fmt.Errorf("keytab.Load(%s): %w", a.KeytabFile, err)
			}
			cred = credential.NewFromKeytabV8(a.Username+"@"+a.Realm, kt)
		} else {
			pw, err := readSecret(a.PasswordFile)
			if err != nil {
				return nil, err
			}
			cred = credential.NewFromPassword(a.Username+"@"+a.Realm, pw)
		}
		kc := krb5.NewConfig()
		kc.KRB5Config = kcfg
		return append(opts, dcerpc.WithMechanism(ssp.KRB5, kc), dcerpc.WithCredentials(cred)), nil
	}
	return nil, fmt.Errorf("adcs: DCOM has no credentials for %T", i.auth)
}

// certAdmin activates CCertAdminD on the CA host and binds ICertAdminD.
func (i *Issuer) certAdmin(ctx context.Context) (icertadmind.CertAdminDClient, *dcom.COMVersion, func(), error) {
	server := i.dcom.Server
	if server == "" {
		server = i.base.Hostname()
	}
	sec, err := i.securityOptions(server)
	if err != nil {
		return nil, nil, nil, err
	}
	timeout := i.dcom.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	cc, err := dcerpc.Dial(ctx, net.JoinHostPort(server, "135"), dcerpc.WithTimeout(timeout))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dcerpc.Dial %s:135: %w", server, err)
	}
	closers := []func(){func() { cc.Close(ctx) }}
	closeAll := func() {
		for _, f := range closers {
			f()
		}
	}
	fail := func(err error) (icertadmind.CertAdminDClient, *dcom.COMVersion, func(), error) {
		closeAll()
		return nil, nil, nil, err
	}
	oe, err := iobjectexporter.NewObjectExporterClient(ctx, cc, sec...)
	if err != nil {
		return fail(fmt.Errorf("iobjectexporter.NewObjectExporterClient: %w", err))
	}
	alive, err := oe.ServerAlive2(ctx, &iobjectexporter.ServerAlive2Request{})
	if err != nil {
		return fail(fmt.Errorf("IObjectExporter.ServerAlive2: %w", err))
	}
	act, err := iactivation.NewActivationClient(ctx, cc, sec...)
	if err != nil {
		return fail(fmt.Errorf("iactivation.NewActivationClient: %w", err))
	}
	res, err := act.RemoteActivation(ctx, &iactivation.RemoteActivationRequest{
		ORPCThis: &dcom.ORPCThis{Version: alive.COMVersion}, ClassID: clsidCertAdminD,
		IIDs: []*dcom.IID{icertadmind.CertAdminDIID}, RequestedProtocolSequences: []uint16{7}, // ncacn_ip_tcp
	})
	if err != nil {
		return fail(fmt.Errorf("IActivation.RemoteActivation CCertAdminD: %w", err))
	}
	if res.HResult != 0 {
		return fail(fmt.Errorf("IActivation.RemoteActivation CCertAdminD: %w", hresult.FromCode(uint32(res.HResult))))
	}
	dialOpts := append(res.OXIDBindings.EndpointsByProtocol("ncacn_ip_tcp"), dcerpc.WithTimeout(timeout))
	ac, err := dcerpc.Dial(ctx, server, dialOpts...)
	if err != nil {
		return fail(fmt.Errorf("dcerpc.Dial CCertAdminD: %w", err))
	}
	closers = append(closers, func() { ac.Close(ctx) })
	adm, err := icertadmind.NewCertAdminDClient(ctx, ac, append(sec, dcom.WithIPID(res.InterfaceData[0].IPID()))...)
	if err != nil {
		return fail(fmt.Errorf("icertadmind.NewCertAdminDClient: %w", err))
	}
	return adm, alive.COMVersion, closeAll, nil
}

// dcomRevoke calls ICertAdminD::RevokeCertificate. Failures to reach the
// CA are ca.ErrTransient; an HRESULT refusal (no officer right, unknown
// serial) is ca.ErrMisconfigured.
func (i *Issuer) dcomRevoke(ctx context.Context, serial string, reason uint32, at time.Time) error {
	ctx = gssapi.NewSecurityContext(ctx)
	adm, ver, closeAll, err := i.certAdmin(ctx)
	if err != nil {
		return fmt.Errorf("adcs: DCOM revoke: %w: %w", ca.ErrTransient, err)
	}
	defer closeAll()
	res, err := adm.RevokeCertificate(ctx, revokeCertificateRequest(ver, i.dcom.Authority, serial, reason, at))
	if err != nil {
		return fmt.Errorf("adcs: ICertAdminD.RevokeCertificate: %w: %w", ca.ErrTransient, err)
	}
	if res.Return != 0 {
		return fmt.Errorf("adcs: ICertAdminD.RevokeCertificate %s: %w: %w", serial, ca.ErrMisconfigured, hresult.FromCode(uint32(res.Return)))
	}
	return nil
}

// dcomHeld asks the CA whether serial is revoked with certificateHold.
func (i *Issuer) dcomHeld(ctx context.Context, serial string) (bool, error) {
	ctx = gssapi.NewSecurityContext(ctx)
	adm, ver, closeAll, err := i.certAdmin(ctx)
	if err != nil {
		return false, fmt.Errorf("adcs: DCOM IsValidCertificate: %w: %w", ca.ErrTransient, err)
	}
	defer closeAll()
	res, err := adm.IsValidCertificate(ctx, &icertadmind.IsValidCertificateRequest{
		This: &dcom.ORPCThis{Version: ver}, Authority: i.dcom.Authority, SerialNumber: serial,
	})
	if err != nil {
		return false, fmt.Errorf("adcs: ICertAdminD.IsValidCertificate: %w: %w", ca.ErrTransient, err)
	}
	if res.Return != 0 {
		return false, fmt.Errorf("adcs: ICertAdminD.IsValidCertificate %s: %w: %w", serial, ca.ErrMisconfigured, hresult.FromCode(uint32(res.Return)))
	}
	return res.Disposition == dispositionRevoked && res.RevocationReason == reasonCertificateHold, nil
}
