package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3" (cloudbuild.yaml does); empty means
// the module version or VCS revision the build recorded, else "devel".
var version = ""

// versionString is what `acmera version` prints.
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && v == "" {
				v = "devel+" + s.Value[:min(len(s.Value), 12)]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	return fmt.Sprintf("acmera %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// isTerminal reports whether w is a character device (a person's
// terminal), where commands print tables instead of JSON lines.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// eabTable writes keys as an aligned table.
func eabTable(w *tabwriter.Writer, ls []eabListing) error {
	fmt.Fprintln(w, "KID\tPROFILE\tALLOW\tUSES\tREUSABLE\tEXPIRES\tREVOKED")
	for _, l := range ls {
		exp, rev := "never", "no"
		if l.Expires != nil {
			exp = l.Expires.Format("2006-01-02 15:04")
		}
		if l.RevokedAt != nil {
			rev = l.RevokedAt.Format("2006-01-02 15:04")
		}
		allow := strings.Join(l.Allow, ",")
		if allow == "" {
			allow = "(profile)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%v\t%s\t%s\n", l.KID, l.Profile, allow, l.Uses, l.Reusable, exp, rev)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
