// Command redact-plugin is a loglayer plugin written in Go with HashiCorp's go-plugin:
// it hides secrets in metadata, data and messages, and prints a line to stdout and one to
// stderr when a message is "print!".
package main

import "loglayerexample/shared"

func main() {
	shared.ServeRedactor(&shared.Redactor{ID: "redact-go", PrintOn: "print!"})
}
