// Package llprom exports what happens inside Lifeline as Prometheus
// metrics: connections and sessions, transport failures and switches,
// publishes, deliveries and their latency, rate-limit refusals, resets,
// sends, slow consumers, the buffer's size and, with llredis, Redis command
// latency and errors.
//
// A Metrics is a longpoll.Observer: pass it as longpoll.Config.Observer
// (and llredis.Config.Observer), then Track the Server for the gauges read
// at scrape time. It registers on the app's registry. Apps that do not
// import this package never compile the Prometheus client: the core knows
// only the Observer interface.
//
// Every label takes its values from a small fixed set (transport names,
// failure reasons, policies, outcomes, causes, Redis command names); never
// a topic, client id or address. The README's "Operations" section lists
// the metrics and what each tells an operator.
package llprom
