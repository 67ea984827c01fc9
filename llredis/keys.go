package llredis

import "strings"

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "lifeline"

// keyspace builds Lifeline's Redis keys. Every key is "{prefix}:<name>",
// so that all of them hash to one Cluster slot and multi-key scripts are
// legal on Redis Cluster.
type keyspace struct {
	tag string // "{prefix}:"
}

func newKeyspace(prefix string) keyspace {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return keyspace{tag: "{" + prefix + "}:"}
}

// key joins parts under the prefix: key("t", "room:1") = "{lifeline}:t:room:1".
func (k keyspace) key(parts ...string) string {
	return k.tag + strings.Join(parts, ":")
}
