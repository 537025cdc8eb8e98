package apply

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Default limits (etcd's).
const (
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 3 * 512 * 1024
)

func (l Limits) maxTxnOps() int {
	if l.MaxTxnOps <= 0 {
		return DefaultMaxTxnOps
	}
	return l.MaxTxnOps
}

func (l Limits) maxRequestBytes() int {
	if l.MaxRequestBytes <= 0 {
		return DefaultMaxRequestBytes
	}
	return l.MaxRequestBytes
}

// CheckSize returns ErrRequestTooLarge when msg's encoding exceeds the request limit.
func CheckSize(msg proto.Message, lim Limits) error {
	if proto.Size(msg) > lim.maxRequestBytes() {
		return ErrRequestTooLarge
	}
	return nil
}

// ValidateRange checks a RangeRequest before it is served.
func ValidateRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return ErrEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return ErrInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return ErrInvalidSortOption
	}
	return nil
}

// ValidatePut checks a PutRequest before it is proposed.
func ValidatePut(r *pb.PutRequest) error {
	switch {
	case len(r.Key) == 0:
		return ErrEmptyKey
	case r.IgnoreValue && len(r.Value) != 0:
		return ErrValueProvided
	case r.IgnoreLease && r.Lease != 0:
		return ErrLeaseProvided
	}
	return nil
}

// ValidateDeleteRange checks a DeleteRangeRequest before it is proposed.
func ValidateDeleteRange(r *pb.DeleteRangeRequest) error {
	if len(r.Key) == 0 {
		return ErrEmptyKey
	}
	return nil
}

// ValidateTxn checks a TxnRequest before it is proposed: op limits (a nested txn counts
// against what its parent leaves), empty keys, empty RequestOps, nested validation, and the
// duplicate-key rule.
func ValidateTxn(r *pb.TxnRequest, lim Limits) error {
	if err := checkTxn(r, lim.maxTxnOps()); err != nil {
		return err
	}
	_, _, err := checkIntervals(r.Success)
	if err != nil {
		return err
	}
	_, _, err = checkIntervals(r.Failure)
	return err
}

func checkTxn(r *pb.TxnRequest, maxOps int) error {
	opc := max(len(r.Compare), len(r.Success), len(r.Failure))
	if opc > maxOps {
		return ErrTooManyOps
	}
	for _, c := range r.Compare {
		if len(c.Key) == 0 {
			return ErrEmptyKey
		}
	}
	for _, branch := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range branch {
			if err := checkOp(op, maxOps-opc); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkOp(op *pb.RequestOp, maxOps int) error {
	switch o := op.GetRequest().(type) {
	case *pb.RequestOp_RequestRange:
		return ValidateRange(o.RequestRange)
	case *pb.RequestOp_RequestPut:
		return ValidatePut(o.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		return ValidateDeleteRange(o.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		return checkTxn(o.RequestTxn, maxOps)
	default:
		return ErrKeyNotFound
	}
}

// interval is a key range of a DeleteRange: [start, end), end "" = the single key start,
// end "\x00" = every key >= start.
type interval struct{ start, end string }

func (iv interval) contains(k string) bool {
	switch iv.end {
	case "":
		return k == iv.start
	case "\x00":
		return k >= iv.start
	default:
		return k >= iv.start && k < iv.end
	}
}

type intervals []interval

func (ivs intervals) contains(k string) bool {
	for _, iv := range ivs {
		if iv.contains(k) {
			return true
		}
	}
	return false
}

// checkIntervals enforces etcd's no-double-write rule for one level of ops and returns the
// keys put and ranges deleted at or below it: no key is put twice, and no key is both put and
// inside a delete, except that the two branches of one nested txn may put the same key
// (only one of them runs).
func checkIntervals(ops []*pb.RequestOp) (map[string]struct{}, intervals, error) {
	var dels intervals
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			dels = append(dels, interval{string(d.Key), string(d.RangeEnd)})
		}
	}
	puts := map[string]struct{}{}
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkIntervals(t.Success)
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkIntervals(t.Failure)
		if err != nil {
			return nil, nil, err
		}
		for k := range putsThen {
			if _, dup := puts[k]; dup || dels.contains(k) {
				return nil, nil, ErrDuplicateKey
			}
			puts[k] = struct{}{}
		}
		for k := range putsElse {
			if _, dup := puts[k]; dup {
				if _, sameTxn := putsThen[k]; !sameTxn {
					return nil, nil, ErrDuplicateKey
				}
			}
			if dels.contains(k) {
				return nil, nil, ErrDuplicateKey
			}
			puts[k] = struct{}{}
		}
		dels = append(append(dels, delsThen...), delsElse...)
	}
	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.Key)
		if _, dup := puts[k]; dup || dels.contains(k) {
			return nil, nil, ErrDuplicateKey
		}
		puts[k] = struct{}{}
	}
	return puts, dels, nil
}

// IsReadOnlyTxn reports whether no branch of r (recursively) writes.
func IsReadOnlyTxn(r *pb.TxnRequest) bool {
	for _, branch := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range branch {
			switch o := op.GetRequest().(type) {
			case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
				return false
			case *pb.RequestOp_RequestTxn:
				if !IsReadOnlyTxn(o.RequestTxn) {
					return false
				}
			}
		}
	}
	return true
}
