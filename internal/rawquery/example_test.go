package rawquery_test

import (
	"fmt"

	"github.com/lifeline-go/lifeline/internal/rawquery"
)

func ExampleGet() {
	raw := "cursor=e1-42&heartbeat=&client=c%5F1"
	fmt.Println(rawquery.Get(raw, "cursor"))
	fmt.Println(rawquery.Get(raw, "heartbeat"))
	fmt.Println(rawquery.Get(raw, "client"))
	fmt.Println(rawquery.Get(raw, "timeout"))
	// Output:
	// e1-42 true
	//  true
	// c_1 true
	//  false
}
