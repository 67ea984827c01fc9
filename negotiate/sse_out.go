package negotiate

import (
	"net/http"
	"reflect"
	"time"

	"github.com/gin-gonic/gin"
)

// streamWriter returns the writer an SSE stream goes through, and a
// function to call when the stream is over.
//
// A compression middleware mounted before Lifeline (gin-contrib/gzip, say)
// has already wrapped c.Writer and set Content-Encoding: everything written
// through it would be compressed, and a compressor buffers. Lifeline never
// compresses a stream, so it writes to the writer underneath instead. Such
// wrappers embed the gin.ResponseWriter they wrap, as the field
// ResponseWriter, which is how the writer underneath is found; the header
// map is shared, so headers other middleware set (CORS, say) still go out.
// When the stream ends, the wrapper is shown a writer that reports no body
// written, so that it adds no trailer of its own after the stream.
func streamWriter(c *gin.Context) (gin.ResponseWriter, func()) {
	if c.Writer.Header().Get("Content-Encoding") == "" {
		return c.Writer, func() {}
	}
	base, ok := unwrapWriter(c.Writer)
	if !ok {
		return c.Writer, func() {} // an unknown wrapper: it may compress
	}
	c.Writer = base
	return base, func() { c.Writer = unwritten{base} }
}

// isGinWriter reports whether w is the writer gin gives every request.
func isGinWriter(w gin.ResponseWriter) bool {
	t := reflect.TypeOf(w)
	return t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "github.com/gin-gonic/gin" && t.Elem().Name() == "responseWriter"
}

// unwrapWriter follows embedded ResponseWriter fields down to gin's own
// writer.
func unwrapWriter(w gin.ResponseWriter) (gin.ResponseWriter, bool) {
	for range 8 {
		if isGinWriter(w) {
			return w, true
		}
		v := reflect.ValueOf(w)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return nil, false
		}
		f := v.Elem().FieldByName("ResponseWriter")
		if !f.IsValid() || !f.CanInterface() {
			return nil, false
		}
		inner, ok := f.Interface().(gin.ResponseWriter)
		if !ok || inner == nil {
			return nil, false
		}
		w = inner
	}
	return nil, false
}

// unwritten is a writer that reports no body written, for the wrappers
// that finish after a stream.
type unwritten struct{ gin.ResponseWriter }

func (unwritten) Size() int     { return -1 }
func (unwritten) Written() bool { return false }
func (unwritten) Status() int   { return http.StatusOK }

// responseOut is where a stream's bytes go: a response writer, flushed
// and given deadlines through http.ResponseController.
type responseOut struct {
	w  gin.ResponseWriter
	rc *http.ResponseController
	// deadlines is the writer, w or one it wraps, that sets write
	// deadlines: found once rather than by ResponseController on every
	// write. Nil when none does.
	deadlines writeDeadliner
}

type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

func newResponseOut(w gin.ResponseWriter) responseOut {
	return responseOut{w: w, rc: http.NewResponseController(w), deadlines: findDeadliner(w)}
}

// findDeadliner follows Unwrap, as http.ResponseController does, to the
// first writer that sets write deadlines.
func findDeadliner(w http.ResponseWriter) writeDeadliner {
	for range 16 {
		if d, ok := w.(writeDeadliner); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

func (o responseOut) Write(b []byte) (int, error) { return o.w.Write(b) }
func (o responseOut) Flush() error                { return o.rc.Flush() }

func (o responseOut) SetWriteDeadline(t time.Time) error {
	if o.deadlines == nil {
		return o.rc.SetWriteDeadline(t) // http.ErrNotSupported
	}
	return o.deadlines.SetWriteDeadline(t)
}
