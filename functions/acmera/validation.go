package main

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/va"
)

// validationNetworksSetting is the setting that reopens denied ranges.
const validationNetworksSetting = "ACMERA_VALIDATION_NETWORKS"

// embeddedLoopback is what the embedded default may reach besides what the
// setting reopens: it runs on a developer box, where the ACME client
// answering the challenges usually runs on the same machine.
var embeddedLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// newValidator builds the validator from cfg. The cloud functions get the
// network policy's deny list, reopened only by ACMERA_VALIDATION_NETWORKS
// (with a warning); the embedded default also reopens loopback, and says
// so.
func newValidator(cfg config.Common, embedded bool, log *slog.Logger) (*va.Validator, error) {
	allow := cfg.ValidationNetworks
	if embedded {
		allow = append(append([]netip.Prefix(nil), embeddedLoopback...), allow...)
		log.Info("embedded default: validation may reach loopback; every other denied range stays closed",
			"allowed", prefixStrings(embeddedLoopback), "setting", validationNetworksSetting)
	}
	if r := va.Reopened(cfg.ValidationNetworks); len(r) > 0 {
		log.Warn(validationNetworksSetting+" reopens ranges that validation never reaches otherwise",
			"setting", validationNetworksSetting, "ranges", prefixStrings(r), "denied", prefixStrings(va.DeniedNetworks()))
	}
	if n := len(cfg.ValidationNetworks) - len(va.Reopened(cfg.ValidationNetworks)); n > 0 {
		log.Info(validationNetworksSetting+": entries outside the denied ranges change nothing (it only reopens denied ranges)",
			"setting", validationNetworksSetting, "entries", n)
	}
	v, err := va.New(va.Config{Resolvers: cfg.Resolvers, HTTP01Port: cfg.HTTP01Port, TLSALPN01Port: cfg.TLSALPN01Port,
		AllowNetworks: allow, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("va.New: %w", err)
	}
	return v, nil
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
