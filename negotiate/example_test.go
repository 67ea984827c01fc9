package negotiate_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Mount Lifeline under /rt; a client negotiates and learns its transports.
func Example() {
	gin.SetMode(gin.TestMode)
	lp := longpoll.New(longpoll.Config{})
	defer lp.Close()
	r := gin.New()
	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group("/rt"))

	w := httptest.NewRecorder()
	body := strings.NewReader(`{"protocol":1,"topics":["room:general"]}`)
	r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/rt/negotiate", body))

	var res negotiate.Response
	json.Unmarshal(w.Body.Bytes(), &res)
	fmt.Println(w.Code, res.Protocol, res.Topics, res.SendURL, res.PollTimeoutMs)
	for _, t := range res.Transports {
		fmt.Println(t.Name)
	}
	// Output:
	// 200 1 [room:general] /rt/send 25000
	// websocket
	// sse
	// longpoll
}
