module sluice/clients/go

go 1.19

require google.golang.org/protobuf v1.28.1

// Debian's golang-google-protobuf-dev: the build and tests run offline. A module that
// imports this one ignores this line and resolves google.golang.org/protobuf as usual.
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
