// Command redact-plugin is a loglayer plugin written in Go with HashiCorp's go-plugin:
// it hides secrets in metadata, data and messages.
package main

import "loglayerexample/shared"

func main() {
	shared.ServeRedactor(&shared.Redactor{ID: "redact-go"})
}
