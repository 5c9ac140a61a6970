package participation

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// Paths and form field, as Fabric names them.
const (
	URLBaseV1         = "/participation/v1/"
	URLBaseV1Channels = URLBaseV1 + "channels"
	FormConfigBlock   = "config-block"
	maxBlockBytes     = 100 << 20
)

// Values of ChannelInfo.ConsensusRelation and ChannelInfo.Status.
const (
	RelationConsenter = "consenter"
	RelationFollower  = "follower"
	// RelationConfigTracker: the orderer keeps the channel (e.g. after it
	// was removed from its consenters) but does not order it.
	RelationConfigTracker = "config-tracker"
	StatusActive          = "active"
	StatusOnboarding      = "onboarding"
	StatusInactive        = "inactive"
	StatusFailed          = "failed"
)

// Errors a Registrar returns; each maps to Fabric's HTTP status.
var (
	ErrChannelNotExist      = errors.New("channel does not exist")   // 404
	ErrChannelAlreadyExists = errors.New("channel already exists")   // 405
	ErrChannelPendingRemove = errors.New("channel pending removal")  // 409
	ErrSystemChannelExists  = errors.New("system channel exists")    // 405
	ErrBadJoinBlock         = errors.New("invalid join block")       // 400
	ErrRemovalFailure       = errors.New("channel removal failure")  // 500
	errUnsupportedMedia     = errors.New("unsupported Content-Type") // 400
	errNotAcceptable        = errors.New("response Content-Type is application/json only")
)

// ChannelInfoShort is one entry of ChannelList.
type ChannelInfoShort struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// ChannelList is the answer to GET /participation/v1/channels.
type ChannelList struct {
	Channels      []ChannelInfoShort `json:"channels"`
	SystemChannel *ChannelInfoShort  `json:"systemChannel"`
}

// ChannelInfo describes one channel this orderer serves.
type ChannelInfo struct {
	Name              string `json:"name"`
	URL               string `json:"url"`
	ConsensusRelation string `json:"consensusRelation"`
	Status            string `json:"status"`
	Height            uint64 `json:"height"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Registrar does the work behind the API.
type Registrar interface {
	ChannelNames() []string
	ChannelInfo(name string) (ChannelInfo, error)
	// Join starts serving the channel whose config block is given: a
	// genesis block, or a later config block to onboard from.
	Join(block *cb.Block) (ChannelInfo, error)
	Remove(name string) error
}

// Handler is the http.Handler of the API.
type Handler struct {
	reg Registrar
	log *slog.Logger
}

// NewHandler returns the API handler over reg.
func NewHandler(reg Registrar, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{reg: reg, log: log}
}

// ServerTLSConfig returns a TLS config for the admin listener that requires
// a client certificate chaining to clientCAs.
func ServerTLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	}
}

var channelNameRE = regexp.MustCompile(`^[a-z][a-z0-9.-]*$`)

// ValidateChannelName applies Fabric's channel name rules.
func ValidateChannelName(name string) error {
	if len(name) == 0 {
		return errors.New("channel ID illegal, cannot be empty")
	}
	if len(name) > 249 {
		return fmt.Errorf("channel ID illegal, cannot be longer than 249")
	}
	if !channelNameRE.MatchString(name) {
		return fmt.Errorf("channel ID '%s' contains illegal characters; allowed: lowercase letters, digits, '.' and '-', starting with a letter", name)
	}
	return nil
}

func channelURL(name string) string { return path.Join(URLBaseV1Channels, name) }

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case p == URLBaseV1Channels:
		switch r.Method {
		case http.MethodGet:
			h.list(w, r)
		case http.MethodPost:
			h.join(w, r)
		default:
			h.notAllowed(w, r, http.MethodGet, http.MethodPost)
		}
	case strings.HasPrefix(p, URLBaseV1Channels+"/"):
		name := strings.TrimPrefix(p, URLBaseV1Channels+"/")
		switch r.Method {
		case http.MethodGet:
			h.get(w, r, name)
		case http.MethodDelete:
			h.remove(w, r, name)
		default:
			h.notAllowed(w, r, http.MethodGet, http.MethodDelete)
		}
	default:
		h.sendError(w, http.StatusNotFound, fmt.Errorf("no such resource: %s (the API lives under %s)", r.URL.Path, URLBaseV1Channels))
	}
}

// acceptJSON answers 406 and returns false when the client does not accept JSON.
func (h *Handler) acceptJSON(w http.ResponseWriter, r *http.Request) bool {
	if !acceptsJSON(r) {
		h.sendError(w, http.StatusNotAcceptable, errNotAcceptable)
		return false
	}
	return true
}

// channelRequest is acceptJSON plus a valid channel name in the URL; it
// answers 406 or 400 and returns false otherwise.
func (h *Handler) channelRequest(w http.ResponseWriter, r *http.Request, name string) bool {
	if !h.acceptJSON(w, r) {
		return false
	}
	if err := ValidateChannelName(name); err != nil {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("invalid channel ID: %w", err))
		return false
	}
	return true
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	if !h.acceptJSON(w, r) {
		return
	}
	var out ChannelList
	for _, n := range h.reg.ChannelNames() {
		out.Channels = append(out.Channels, ChannelInfoShort{Name: n, URL: channelURL(n)})
	}
	h.send(w, http.StatusOK, out)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, name string) {
	if !h.channelRequest(w, r, name) {
		return
	}
	info, err := h.reg.ChannelInfo(name)
	if err != nil {
		h.sendError(w, http.StatusNotFound, err)
		return
	}
	info.URL = channelURL(info.Name)
	h.send(w, http.StatusOK, info)
}

func (h *Handler) join(w http.ResponseWriter, r *http.Request) {
	if !h.acceptJSON(w, r) {
		return
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("cannot parse Mime media type: %w", err))
		return
	}
	if mediaType != "multipart/form-data" || params["boundary"] == "" {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("%w: %s; send multipart/form-data with a %q part", errUnsupportedMedia, mediaType, FormConfigBlock))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBlockBytes+1<<20)
	if err := r.ParseMultipartForm(maxBlockBytes); err != nil {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("cannot read form from request body: %w", err))
		return
	}
	defer r.MultipartForm.RemoveAll()
	files := r.MultipartForm.File[FormConfigBlock]
	if len(files) == 0 {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("form does not contain part key: %s", FormConfigBlock))
		return
	}
	if len(r.MultipartForm.File) != 1 || len(files) != 1 || len(r.MultipartForm.Value) != 0 {
		h.sendError(w, http.StatusBadRequest, errors.New("form contains too many parts"))
		return
	}
	f, err := files[0].Open()
	if err != nil {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("cannot open file part %s from request body: %w", FormConfigBlock, err))
		return
	}
	raw, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("cannot read file part %s from request body: %w", FormConfigBlock, err))
		return
	}
	block := &cb.Block{}
	if err := proto.Unmarshal(raw, block); err != nil {
		h.sendError(w, http.StatusBadRequest, fmt.Errorf("cannot unmarshal file part %s into a block: %w", FormConfigBlock, err))
		return
	}
	info, err := h.reg.Join(block)
	if err != nil {
		err = fmt.Errorf("cannot join: %w", err)
		if errors.Is(err, ErrChannelAlreadyExists) {
			h.notAllowedErr(w, err, http.MethodGet, http.MethodDelete)
		} else {
			h.sendRegistryError(w, err)
		}
		return
	}
	info.URL = channelURL(info.Name)
	h.log.Info("joined channel", "channel", info.Name, "height", info.Height)
	w.Header().Set("Location", info.URL)
	h.send(w, http.StatusCreated, info)
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request, name string) {
	if !h.channelRequest(w, r, name) {
		return
	}
	if err := h.reg.Remove(name); err != nil {
		err = fmt.Errorf("cannot remove: %w", err)
		if errors.Is(err, ErrChannelNotExist) {
			h.sendError(w, http.StatusNotFound, err)
		} else {
			h.sendRegistryError(w, err)
		}
		return
	}
	h.log.Info("removed channel", "channel", name)
	w.WriteHeader(http.StatusNoContent)
}

// sendRegistryError answers a Join or Remove failure that join and remove
// treat alike: 405 with a system channel, 409 while a removal is pending,
// 500 when a removal failed, 400 otherwise.
func (h *Handler) sendRegistryError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrSystemChannelExists):
		h.notAllowedErr(w, err, http.MethodGet)
	case errors.Is(err, ErrChannelPendingRemove):
		h.sendError(w, http.StatusConflict, err)
	case errors.Is(err, ErrRemovalFailure):
		h.sendError(w, http.StatusInternalServerError, err)
	default:
		h.sendError(w, http.StatusBadRequest, err)
	}
}

func (h *Handler) notAllowed(w http.ResponseWriter, r *http.Request, allow ...string) {
	h.notAllowedErr(w, fmt.Errorf("invalid request method: %s", r.Method), allow...)
}

func (h *Handler) notAllowedErr(w http.ResponseWriter, err error, allow ...string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	h.sendError(w, http.StatusMethodNotAllowed, err)
}

func (h *Handler) sendError(w http.ResponseWriter, code int, err error) {
	h.send(w, code, ErrorResponse{Error: err.Error()})
}

func (h *Handler) send(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.log.Warn("write participation response", "error", err)
	}
}

func acceptsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return true
	}
	for _, opt := range strings.Split(accept, ",") {
		if strings.Contains(opt, "application/json") || strings.Contains(opt, "application/*") || strings.Contains(opt, "*/*") {
			return true
		}
	}
	return false
}
