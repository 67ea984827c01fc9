package llprom_test

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-go/lifeline/llprom"
	"github.com/lifeline-go/lifeline/longpoll"
)

func Example() {
	reg := prometheus.NewRegistry() // the app's registry; serve it with promhttp
	metrics, err := llprom.New(llprom.Config{Registerer: reg})
	if err != nil {
		panic(err)
	}
	lp := longpoll.New(longpoll.Config{Observer: metrics, DisablePresence: true})
	defer lp.Close()
	if err := metrics.Track(lp); err != nil {
		panic(err)
	}

	_, _ = lp.Publish(context.Background(), "notifications", "notification", "deployed")

	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "lifeline_events_published_total" {
			fmt.Println(f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output: lifeline_events_published_total 1
}
