package llprom

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// allowedLabels is every label name the metrics use and the values it may
// take: fixed sets, none of which can hold a topic, client id or address.
func allowedLabels() map[string][]string {
	causes := make([]string, 0, len(longpoll.ResetCauses))
	for _, c := range longpoll.ResetCauses {
		causes = append(causes, c.String())
	}
	return map[string][]string{
		"transport": longpoll.Transports,
		"from":      longpoll.Transports,
		"to":        longpoll.Transports,
		"reason":    append(append([]string{}, longpoll.FailureReasons...), longpoll.SessionEnds...),
		"policy":    longpoll.Policies,
		"outcome":   longpoll.SendOutcomes,
		"cause":     causes,
	}
}

// checkLabels fails t when a series of reg has a label outside
// allowedLabels (command labels are Redis command names: lower-case
// letters only), or a value containing one of the secrets.
func checkLabels(t *testing.T, reg prometheus.Gatherer, secrets []string) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := allowedLabels()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				name, value := l.GetName(), l.GetValue()
				for _, s := range secrets {
					if strings.Contains(value, s) {
						t.Errorf("%s{%s=%q} carries %q", f.GetName(), name, value, s)
					}
				}
				if name == "command" {
					if strings.Trim(value, "abcdefghijklmnopqrstuvwxyz") != "" {
						t.Errorf("%s{command=%q}: not a command name", f.GetName(), value)
					}
					continue
				}
				if !contains(allowed[name], value) {
					t.Errorf("%s{%s=%q}: outside the label's fixed set %v", f.GetName(), name, value, allowed[name])
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A client with a distinctive topic, id and data goes through every path
// that reports: neither the metrics' labels nor the log may carry its
// topic, client id, address, token or message data.
func TestNoLabelCarriesATopicClientOrAddressAndNoLogATokenOrData(t *testing.T) {
	const (
		topic = "room:label-secret-topic"
		data  = "payload-secret-42"
	)
	r := newRig(t, longpoll.Config{SendLimit: longpoll.Limit{Limit: 1, Period: 1 << 62, Burst: 1}}, negotiate.Config{})
	n := r.negotiate(map[string]any{"topics": []string{topic}, "failed": []map[string]string{
		{"transport": topic, "reason": data}, // reported names are a client's to choose
	}})
	ws := r.dialWS(n, 0)
	send := func(mid string) {
		if err := ws.WriteJSON(map[string]any{"op": "send", "mid": mid, "topic": topic, "type": "message", "data": data}); err != nil {
			t.Fatal(err)
		}
	}
	send("mid-secret-1")
	send("mid-secret-2")              // refused by the limit
	for seen := 0; seen < 3; seen++ { // the ack, the event, the refusal
		readOp(t, ws)
	}
	var res pollResult
	r.get("/rt/poll?cursor=stale0000000000.1", n.Token, &res) // supersedes the socket and resets
	if status := r.post("/rt/send", n.Token, json.RawMessage(`{"topic":"`+topic+`","type":"message","mid":"mid-secret-3","data":"`+data+`"}`), nil); status != http.StatusTooManyRequests {
		t.Fatalf("send over the limit: %d", status)
	}
	req, _ := http.NewRequest(http.MethodDelete, r.srv.URL+"/rt/session", nil)
	req.Header.Set(longpoll.TokenHeader, n.Token)
	r.do(req, nil)
	r.lp.Sweep()

	r.want(1, "lifeline_transport_failures_total", "transport", "other", "reason", "other")
	r.want(1, "lifeline_sessions_ended_total", "reason", "deleted")
	checkLabels(t, r.reg, []string{topic, "label-secret", n.ClientID, "127.0.0.1", data})
	logs := r.logs.String()
	for _, token := range r.tokens {
		if strings.Contains(logs, token) {
			t.Errorf("a log line carries a session token:\n%s", logs)
		}
	}
	if strings.Contains(logs, data) || strings.Contains(logs, "label-secret") {
		t.Errorf("a log line carries message data or a topic:\n%s", logs)
	}
	for _, want := range []string{"session started", "session ended", "reported a transport failure", "told to reset"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q line in the log:\n%s", want, logs)
		}
	}
}

// The core and the packages beside it never compile the Prometheus
// client: only this package imports it.
func TestOnlyThisPackageImportsPrometheus(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true runs every test, but there is no go command on PATH: %v", err)
		}
		t.Skipf("no go command on PATH: %v", err)
	}
	const mod = "github.com/lifeline-go/lifeline/"
	out, err := exec.CommandContext(context.Background(), gobin, "list", "-deps",
		mod+"longpoll", mod+"negotiate", mod+"ratelimit", mod+"llredis").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), mod+"longpoll\n") {
		t.Fatalf("go list did not list the packages:\n%s", out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "prometheus") {
			t.Errorf("the core depends on %s", dep)
		}
	}
}
