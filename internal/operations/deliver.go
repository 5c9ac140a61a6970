package operations

import "strconv"

// DeliverMetrics are Fabric's deliver_* families, which the peer's and the
// orderer's Deliver services both serve. A nil *DeliverMetrics counts nothing.
type DeliverMetrics struct {
	streamsOpened, streamsClosed CounterSeries
	received, completed, sent    *Counter
}

// NewDeliverMetrics registers the deliver_* families in r.
func NewDeliverMetrics(r *Registry) *DeliverMetrics {
	cfd := []string{"channel", "filtered", "data_type"}
	return &DeliverMetrics{
		streamsOpened: r.Counter(Opts{Name: "deliver_streams_opened",
			Help: "The number of GRPC streams that have been opened for the deliver service."}).With(),
		streamsClosed: r.Counter(Opts{Name: "deliver_streams_closed",
			Help: "The number of GRPC streams that have been closed for the deliver service."}).With(),
		received: r.Counter(Opts{Name: "deliver_requests_received", Labels: cfd,
			Help: "The number of deliver requests that have been received."}),
		completed: r.Counter(Opts{Name: "deliver_requests_completed", Labels: append(cfd, "success"),
			Help: "The number of deliver requests that have been completed."}),
		sent: r.Counter(Opts{Name: "deliver_blocks_sent", Labels: cfd,
			Help: "The number of blocks sent by the deliver service."}),
	}
}

// StreamOpened counts a Deliver stream; call the function it returns when
// the stream ends.
func (d *DeliverMetrics) StreamOpened() (closed func()) {
	if d == nil {
		return func() {}
	}
	d.streamsOpened.Inc()
	return d.streamsClosed.Inc
}

// DeliverRequest counts the blocks and the outcome of one request.
type DeliverRequest struct {
	d                           *DeliverMetrics
	channel, filtered, dataKind string
	sent                        CounterSeries
}

// Request counts a request for a channel the node serves. dataType is
// Fabric's: "block", "filtered_block" or "block_and_pvtdata".
func (d *DeliverMetrics) Request(channel string, filtered bool, dataType string) *DeliverRequest {
	if d == nil {
		return nil
	}
	f := strconv.FormatBool(filtered)
	d.received.Inc(channel, f, dataType)
	return &DeliverRequest{d: d, channel: channel, filtered: f, dataKind: dataType, sent: d.sent.With(channel, f, dataType)}
}

// BlockSent counts one block sent.
func (r *DeliverRequest) BlockSent() {
	if r != nil {
		r.sent.Inc()
	}
}

// Completed counts the request's end; success is a SUCCESS status.
func (r *DeliverRequest) Completed(success bool) {
	if r != nil {
		r.d.completed.Inc(r.channel, r.filtered, r.dataKind, strconv.FormatBool(success))
	}
}
