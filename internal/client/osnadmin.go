package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
)

// OSNAdmin talks to an orderer's channel participation API
// (/participation/v1/channels), as Fabric's osnadmin does.
type OSNAdmin struct {
	Endpoint Endpoint // Address of the admin listener; mutual TLS with ClientCert/KeyFile
}

// ChannelInfo is the participation API's description of one channel.
type ChannelInfo struct {
	Name              string `json:"name"`
	URL               string `json:"url"`
	ConsensusRelation string `json:"consensusRelation"`
	Status            string `json:"status"`
	Height            uint64 `json:"height"`
}

func (a OSNAdmin) httpClient() (*http.Client, string, error) {
	scheme := "http"
	tr := &http.Transport{}
	if a.Endpoint.TLS {
		cfg, err := a.Endpoint.TLSConfig()
		if err != nil {
			return nil, "", err
		}
		tr.TLSClientConfig = cfg
		scheme = "https"
	}
	return &http.Client{Transport: tr}, scheme + "://" + a.Endpoint.Address + "/participation/v1/channels", nil
}

// Join joins the orderer to the channel whose genesis (config) block is given.
func (a OSNAdmin) Join(ctx context.Context, configBlock []byte) (*ChannelInfo, error) {
	hc, url, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("config-block", "config.block")
	if err != nil {
		return nil, err
	}
	if _, err := part.Write(configBlock); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	info := &ChannelInfo{}
	if err := do(hc, req, http.StatusCreated, info); err != nil {
		return nil, fmt.Errorf("join channel on orderer %s: %w", a.Endpoint.Address, err)
	}
	return info, nil
}

// List returns the channels the orderer serves.
func (a OSNAdmin) List(ctx context.Context) ([]ChannelInfo, error) {
	hc, url, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	var list struct {
		Channels []ChannelInfo `json:"channels"`
	}
	if err := do(hc, req, http.StatusOK, &list); err != nil {
		return nil, fmt.Errorf("list channels on orderer %s: %w", a.Endpoint.Address, err)
	}
	return list.Channels, nil
}

// Info returns one channel's description.
func (a OSNAdmin) Info(ctx context.Context, channel string) (*ChannelInfo, error) {
	hc, url, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+channel, nil)
	if err != nil {
		return nil, err
	}
	info := &ChannelInfo{}
	if err := do(hc, req, http.StatusOK, info); err != nil {
		return nil, fmt.Errorf("channel %s on orderer %s: %w", channel, a.Endpoint.Address, err)
	}
	return info, nil
}

// Remove removes the orderer from a channel.
func (a OSNAdmin) Remove(ctx context.Context, channel string) error {
	hc, url, err := a.httpClient()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url+"/"+channel, nil)
	if err != nil {
		return err
	}
	if err := do(hc, req, http.StatusNoContent, nil); err != nil {
		return fmt.Errorf("remove channel %s on orderer %s: %w", channel, a.Endpoint.Address, err)
	}
	return nil
}

func do(hc *http.Client, req *http.Request, want int, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}
