module github.com/ternmail/tern

go 1.26.0

require github.com/ternmail/tern/sdk v0.0.0

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/ternmail/tern/sdk => ./sdk

tool (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)
