// Command panic-plugin is redact-plugin, except that its message hook panics (and so
// the whole process dies, as an unrecovered panic in a gRPC handler does) when a message
// is "panic!". Hosts use it to prove they survive a plugin crash.
package main

import "loglayerexample/shared"

func main() {
	shared.ServeRedactor(&shared.Redactor{ID: "redact-go", PanicOn: "panic!"})
}
