package adcs

import (
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
)

// The Web Enrollment answers acmera reads, as certsrv's ASP pages write
// them (the same patterns acme2certifier's and the certsrv Python
// library's clients match).
var (
	issuedRE      = regexp.MustCompile(`certnew\.cer\?ReqID=(\d+)&`)
	pendingIDRE   = regexp.MustCompile(`Your Request Id is (\d+)\.`)
	dispositionRE = regexp.MustCompile(`The disposition message is "([^"]+)`)
	// certnew.cer of a request that has no certificate answers an error
	// page: "Disposition message:" then tabs, then the message.
	retrieveDispositionRE = regexp.MustCompile(`Disposition message:[^\t\r\n]*\t+([^\r\n<]+)`)
	renewalsRE            = regexp.MustCompile(`var nRenewals=(\d+);`)
)

// answer is certfnsh.asp's outcome.
type answer struct {
	kind    answerKind
	reqID   string
	message string // the disposition message of a denial
}

type answerKind int

const (
	answerIssued answerKind = iota + 1
	answerPending
	answerDenied
)

// parseAnswer reads certfnsh.asp's page. A page that is none of the three
// (a certsrv error page, an IIS error) is an error quoting its title.
func parseAnswer(page string) (answer, error) {
	if strings.Contains(page, "Certificate Pending") {
		if m := pendingIDRE.FindStringSubmatch(page); m != nil {
			return answer{kind: answerPending, reqID: m[1]}, nil
		}
		return answer{}, fmt.Errorf("a Certificate Pending page without a request ID")
	}
	if m := issuedRE.FindStringSubmatch(page); m != nil {
		return answer{kind: answerIssued, reqID: m[1]}, nil
	}
	if m := dispositionRE.FindStringSubmatch(page); m != nil {
		return answer{kind: answerDenied, message: cleanMessage(m[1])}, nil
	}
	return answer{}, fmt.Errorf("an unexpected page (%s)", pageTitle(page))
}

// retrieval is certnew.cer's outcome when it is not a certificate.
func parseRetrieval(page string) (pending bool, message string, ok bool) {
	m := retrieveDispositionRE.FindStringSubmatch(page)
	if m == nil {
		return false, "", false
	}
	msg := cleanMessage(m[1])
	return strings.Contains(msg, "Taken Under Submission") || strings.Contains(msg, "Under Submission"), msg, true
}

// parseRenewals reads certcarc.asp's count of CA certificate renewals.
func parseRenewals(page string) (int, error) {
	m := renewalsRE.FindStringSubmatch(page)
	if m == nil {
		return 0, fmt.Errorf("no nRenewals in the page (%s)", pageTitle(page))
	}
	return strconv.Atoi(m[1])
}

var titleRE = regexp.MustCompile(`(?is)<title>(.*?)</title>`)

// pageTitle is a page's title, for error messages.
func pageTitle(page string) string {
	if m := titleRE.FindStringSubmatch(page); m != nil {
		return "title " + strconv.Quote(cleanMessage(m[1]))
	}
	return fmt.Sprintf("%d bytes, no title", len(page))
}

// cleanMessage unescapes and trims a CA message, at most 300 bytes.
func cleanMessage(s string) string {
	s = strings.Join(strings.Fields(html.UnescapeString(s)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
