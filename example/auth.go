package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Topic names of the chat.
const (
	// roomPrefix starts every chat room's topic: "room:general".
	roomPrefix = "room:"
	// notificationsTopic carries server-side announcements. Clients may
	// follow it but never publish to it.
	notificationsTopic = "notifications"
)

// roomName is the rule for the part after roomPrefix.
var roomName = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// Errors the Authorize hook refuses with; each becomes a 403
// forbidden_topic whose detail carries the text.
var (
	errServerOnly   = errors.New("only the server publishes to " + notificationsTopic)
	errUnknownTopic = errors.New("topics are room:<name> (name: 1-32 of a-z 0-9 -) or " + notificationsTopic)
)

// isRoom reports whether topic is a valid chat room.
func isRoom(topic string) bool {
	name, ok := strings.CutPrefix(topic, roomPrefix)
	return ok && roomName.MatchString(name)
}

// authorize is the chat's longpoll.Config.Authorize hook: anyone may follow
// and publish to any room; anyone may follow notifications; nothing else.
func authorize(_ *gin.Context, _ string, topic string, action longpoll.Action) error {
	switch {
	case isRoom(topic):
		return nil
	case topic == notificationsTopic:
		if action == longpoll.Publish {
			return errServerOnly
		}
		return nil
	default:
		return fmt.Errorf("%w, not %q", errUnknownTopic, topic)
	}
}
