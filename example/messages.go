package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Limits of the chat's messages.
const (
	maxTextRunes = 2000
	maxNameRunes = 32
	// typingTTL is how long a typing indicator lives: typing events are
	// always ephemeral, whatever the client asked for.
	typingTTL = 4 * time.Second
	// anonymous is the name shown for a client that sent no usable name.
	anonymous = "anonymous"
)

// chatText is the data of a message a client sends: {"text": "..."}.
type chatText struct {
	Text *string `json:"text"`
}

// chatMessage is the data of a published message: the trimmed text and the
// sender's name, taken from its session rather than trusted from the data.
type chatMessage struct {
	Text string `json:"text"`
	Name string `json:"name"`
}

// typingData is the data of a published typing event.
type typingData struct {
	Name string `json:"name"`
}

// onMessage is the chat's longpoll.Config.OnMessage hook: "message" events
// carry validated text, "typing" events are forced ephemeral, and any other
// type is refused.
func onMessage(_ *gin.Context, m longpoll.Message) (longpoll.Draft, error) {
	d := m.Draft()
	name := displayName(m.Meta)
	switch m.Type {
	case longpoll.TypeMessage:
		text, err := parseText(m.Data)
		if err != nil {
			return d, err
		}
		d.Data, _ = json.Marshal(chatMessage{Text: text, Name: name}) // strings always encode
		d.TTL = 0
	case longpoll.TypeTyping:
		d.Data, _ = json.Marshal(typingData{Name: name})
		d.TTL = typingTTL
	default:
		return d, &longpoll.Rejection{Status: http.StatusUnprocessableEntity, Code: "bad_type",
			Detail: fmt.Sprintf("type %q is not allowed: send %q or %q", m.Type, longpoll.TypeMessage, longpoll.TypeTyping)}
	}
	return d, nil
}

// parseText validates data of the form {"text": "..."} and returns the
// trimmed text, or a 422 bad_text rejection.
func parseText(data json.RawMessage) (string, error) {
	var t chatText
	if err := json.Unmarshal(data, &t); err != nil || t.Text == nil {
		return "", badText(`data must be {"text": "..."}`)
	}
	text := strings.TrimSpace(*t.Text)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return "", badText("text is empty")
	case n > maxTextRunes:
		return "", badText(fmt.Sprintf("text is %d characters, at most %d", n, maxTextRunes))
	case !utf8.ValidString(text):
		return "", badText("text is not valid UTF-8")
	}
	return text, nil
}

func badText(detail string) error {
	return &longpoll.Rejection{Status: http.StatusUnprocessableEntity, Code: "bad_text", Detail: detail}
}

// displayName returns the name in a session's meta ({"name": "..."}),
// trimmed and cut to maxNameRunes, or anonymous.
func displayName(meta json.RawMessage) string {
	var m struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(meta, &m) != nil {
		return anonymous
	}
	name := strings.Join(strings.Fields(m.Name), " ")
	if name == "" {
		return anonymous
	}
	if r := []rune(name); len(r) > maxNameRunes {
		name = string(r[:maxNameRunes])
	}
	return name
}
