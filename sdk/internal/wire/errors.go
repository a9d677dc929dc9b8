package wire

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ternmail/tern/sdk/connector"
	pb "github.com/ternmail/tern/sdk/internal/proto/v1"
)

// kindCodes maps error kinds to the gRPC codes that carry them. The kind
// itself travels in an ErrorDetail; the code is for generic gRPC tooling.
var kindCodes = map[connector.Kind]codes.Code{
	connector.KindUnknown:     codes.Unknown,
	connector.KindAuth:        codes.Unauthenticated,
	connector.KindNotFound:    codes.NotFound,
	connector.KindThrottled:   codes.ResourceExhausted,
	connector.KindTooLarge:    codes.OutOfRange,
	connector.KindPermanent:   codes.FailedPrecondition,
	connector.KindTemporary:   codes.Aborted,
	connector.KindInvalid:     codes.InvalidArgument,
	connector.KindUnsupported: codes.Unimplemented,
	connector.KindUnavailable: codes.Unavailable,
}

// ToStatus turns an error into a gRPC status error that keeps its kind,
// message and retry-after hint. nil stays nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && connector.KindOf(err) == connector.KindUnknown {
		var e *connector.Error
		if !errors.As(err, &e) {
			return err // already a status from a nested gRPC call
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	st := status.New(kindCodes[connector.KindOf(err)], err.Error())
	if withDetail, derr := st.WithDetails(ErrorDetail(err)); derr == nil {
		st = withDetail
	}
	return st.Err()
}

// ErrorDetail returns the wire form of an error.
func ErrorDetail(err error) *pb.ErrorDetail {
	return &pb.ErrorDetail{
		Kind:         pb.ErrorKind(connector.KindOf(err)),
		Message:      err.Error(),
		RetryAfterMs: connector.RetryAfter(err).Milliseconds(),
	}
}

// FromDetail turns an ErrorDetail back into a classified error.
func FromDetail(d *pb.ErrorDetail) error {
	return &connector.Error{
		Kind:       connector.Kind(d.GetKind()),
		Message:    d.GetMessage(),
		RetryAfter: time.Duration(d.GetRetryAfterMs()) * time.Millisecond,
	}
}

// FromStatus turns an error returned by a gRPC call back into a classified
// error: the kind from its ErrorDetail, or, for transport failures without
// one, a kind chosen from the code (a dead plugin is KindUnavailable).
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if detail, ok := d.(*pb.ErrorDetail); ok {
			return FromDetail(detail)
		}
	}
	switch st.Code() {
	case codes.Canceled:
		// The caller's own cancellation is reported by the caller (see
		// the rpcplugin client); a call cancelled by the other side or by
		// a closing connection means the connector went away.
		return &connector.Error{Kind: connector.KindUnavailable, Message: "connector call cancelled: " + st.Message()}
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Unavailable:
		return &connector.Error{Kind: connector.KindUnavailable, Message: "connector unavailable: " + st.Message()}
	case codes.Unimplemented:
		return &connector.Error{Kind: connector.KindUnsupported, Message: st.Message()}
	case codes.ResourceExhausted:
		// gRPC's own message size limits land here too.
		return &connector.Error{Kind: connector.KindPermanent, Message: st.Message()}
	}
	return &connector.Error{Kind: connector.KindUnknown, Message: st.Message()}
}
