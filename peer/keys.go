package peer

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// keys reads typed core.yaml values with defaults for keys left unset or
// empty, and collects every malformed value (naming its key and its
// environment override) instead of stopping at the first.
type keys struct {
	v   *viper.Viper
	bad []string
}

// raw is a key's value as text; ok is false when it is unset or empty.
func (k *keys) raw(key string) (string, bool) {
	val := k.v.Get(key)
	if val == nil {
		return "", false
	}
	s := strings.TrimSpace(fmt.Sprint(val))
	return s, s != ""
}

func (k *keys) str(key, def string) string {
	if s, ok := k.raw(key); ok {
		return s
	}
	return def
}

func (k *keys) num(key string, def int) int {
	s, ok := k.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		k.bad = append(k.bad, fmt.Sprintf("%s = %q is not a whole number", keyEnv(key), s))
	}
	return n
}

func (k *keys) dur(key string, def time.Duration) time.Duration {
	s, ok := k.raw(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		k.bad = append(k.bad, fmt.Sprintf("%s = %q is not a duration such as 35s", keyEnv(key), s))
	}
	return d
}

func (k *keys) flag(key string, def bool) bool {
	s, ok := k.raw(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		k.bad = append(k.bad, fmt.Sprintf("%s = %q is not true or false", keyEnv(key), s))
	}
	return b
}

// ratio reads a number such as 0.75.
func (k *keys) ratio(key string, def float64) float64 {
	s, ok := k.raw(key)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		k.bad = append(k.bad, fmt.Sprintf("%s = %q is not a number such as 0.75", keyEnv(key), s))
	}
	return f
}

// endpoints reads a list of host:port, written as a YAML list or, as Fabric
// takes peer.gossip.bootstrap, as one string of endpoints separated by
// spaces or commas.
func (k *keys) endpoints(key string) []string {
	var out []string
	switch val := k.v.Get(key).(type) {
	case nil:
	case []any:
		for _, e := range val {
			out = append(out, strings.Fields(strings.ReplaceAll(fmt.Sprint(e), ",", " "))...)
		}
	default:
		out = strings.Fields(strings.ReplaceAll(fmt.Sprint(val), ",", " "))
	}
	return out
}
