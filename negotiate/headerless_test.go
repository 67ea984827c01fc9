package negotiate

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A browser that negotiates again and again without ending its sessions
// (page loads, room switches) keeps at most MaxSessionCookies cookies, and
// the newest session's cookie is among them.
func TestNegotiateCapsSessionCookies(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{DisablePresence: true}, Config{DisableNegotiateLimit: true, MaxSessionCookies: 5})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: srv.Client().Transport}
	base, _ := url.Parse(srv.URL + "/rt/")
	var last Response
	for range 40 {
		last, _ = negotiateWith(t, browser, srv)
		if n := len(jar.Cookies(base)); n > 5 {
			t.Fatalf("after a negotiate the browser holds %d session cookies, want at most 5", n)
		}
	}
	names := map[string]bool{}
	for _, ck := range jar.Cookies(base) {
		names[ck.Name] = true
	}
	if len(names) != 5 || !names["ll_"+last.ClientID] {
		t.Fatalf("cookies %v, want 5 including the newest session's ll_%s", names, last.ClientID)
	}
	// The newest session still works by its cookie alone.
	status, body, hdr := get(t, browser, srv.URL+sseURL(last, last.Cursor), nil)
	if status != http.StatusOK {
		t.Fatalf("SSE by the newest cookie = %d %s %v", status, body, hdr)
	}
}

// Behind a proxy that strips Lifeline-Token, a client authenticates its
// polls, presence and history calls and ending by the session cookie
// naming its client, and its sends by the token in the body; the token is
// never in a URL, and a cookie alone never sends.
func TestHeaderlessAuthentication(t *testing.T) {
	lp, srv := newServerWith(t, longpoll.Config{}, Config{})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: srv.Client().Transport}
	neg, _ := negotiateWith(t, browser, srv)
	other, _ := negotiateWith(t, srv.Client(), srv)
	client := "&client=" + url.QueryEscape(neg.ClientID)

	e := publish(t, lp, "room:a", "hello")
	res, err := browser.Get(srv.URL + "/rt/poll?cursor=" + url.QueryEscape(neg.Cursor) + "&timeout=0" + client)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), e.ID.String()) {
		t.Fatalf("poll by cookie = %d %s, want 200 with %s", res.StatusCode, b, e.ID)
	}
	if sessionCookieOf(res, neg.ClientID) == nil {
		t.Errorf("a poll authenticated by cookie set %v, want the cookie refreshed", res.Cookies())
	}
	status, b, _ := get(t, browser, srv.URL+"/rt/presence?topic=room:a"+client, nil)
	if status != http.StatusOK {
		t.Errorf("presence by cookie = %d %s", status, b)
	}
	// The cookie proves only the client it names.
	status, b, hdr := get(t, browser, srv.URL+"/rt/poll?timeout=0&cursor="+url.QueryEscape(neg.Cursor)+"&client="+other.ClientID, nil)
	if status != http.StatusUnauthorized || !isProblem(hdr, b, "unknown_token") {
		t.Errorf("poll naming another client = %d %s, want 401 unknown_token", status, b)
	}

	send := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+neg.SendURL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if status, b := send(`{"topic":"room:a","type":"message","mid":"m_body0001","data":1}`); status != http.StatusUnauthorized {
		t.Errorf("send with the cookie only = %d %s, want 401", status, b)
	}
	tok, _ := json.Marshal(neg.Token)
	status, sb := send(`{"topic":"room:a","type":"message","mid":"m_body0001","data":1,"token":` + string(tok) + `}`)
	if status != http.StatusOK || !strings.Contains(sb, "m_body0001") {
		t.Fatalf("send with the token in the body = %d %s, want 200", status, sb)
	}
	if status, b := send(`{"topic":"room:a","type":"message","mid":"m_body0002","token":"t_nope"}`); status != http.StatusUnauthorized {
		t.Errorf("send with an unknown body token = %d %s, want 401", status, b)
	}
	if status, b := send(`not json`); status != http.StatusUnauthorized {
		t.Errorf("send of no JSON and no header = %d %s, want 401", status, b)
	}

	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/rt/session?client="+url.QueryEscape(neg.ClientID), nil)
	del, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if ck := sessionCookieOf(del, neg.ClientID); del.StatusCode != http.StatusNoContent || ck == nil || ck.MaxAge >= 0 {
		t.Fatalf("DELETE by cookie = %d, cookie %+v, want 204 clearing it", del.StatusCode, ck)
	}
	if _, err := lp.Authenticate(neg.Token); err == nil {
		t.Fatal("the session outlived DELETE by cookie")
	}
}
