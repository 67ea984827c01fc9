package main

import (
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

func TestCheckProxies(t *testing.T) {
	if err := checkProxies([]string{"127.0.0.1/32", "10.0.0.1", "::1"}); err != nil {
		t.Fatalf("valid list refused: %v", err)
	}
	if err := checkProxies([]string{"nginx.local"}); err == nil {
		t.Fatal("a host name was accepted as a trusted proxy")
	}
}
