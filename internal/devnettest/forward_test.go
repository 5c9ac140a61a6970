package devnettest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// echoServer echoes every line back until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { lis.Close(); <-done })
	return lis.Addr().String()
}

func TestForwarderRelaysUntilCut(t *testing.T) {
	f := Forward(t, echoServer(t))
	c, err := net.Dial("tcp", f.lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("through the forwarder: %q, %v", line, err)
	}
	if f.Relayed() != 1 {
		t.Errorf("Relayed = %d, want 1", f.Relayed())
	}

	f.Cut()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("a connection through the forwarder is still open after Cut")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a connection through the forwarder was not closed by Cut")
	}
	if c2, err := net.DialTimeout("tcp", f.lis.Addr().String(), 5*time.Second); err == nil {
		c2.Close()
		t.Fatal("the forwarder accepts connections after Cut")
	}
	f.Cut() // twice is fine
}

func TestSetNodeReplacesAndAdds(t *testing.T) {
	src := "peer:\n  # kept\n  id: p\n  deliveryclient:\n    connTimeout: 3s\n    addressOverrides: []\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	val := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{scalar("x")}}
	if err := setNode(&doc, []string{"peer", "deliveryclient", "addressOverrides"}, val); err != nil {
		t.Fatal(err)
	}
	if err := setNode(&doc, []string{"peer", "gossip", "bootstrap"}, scalar("localhost:1")); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Peer struct {
			ID             string `yaml:"id"`
			DeliveryClient struct {
				ConnTimeout      string   `yaml:"connTimeout"`
				AddressOverrides []string `yaml:"addressOverrides"`
			} `yaml:"deliveryclient"`
			Gossip struct {
				Bootstrap string `yaml:"bootstrap"`
			} `yaml:"gossip"`
		} `yaml:"peer"`
	}
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	p := got.Peer
	if p.ID != "p" || p.DeliveryClient.ConnTimeout != "3s" || len(p.DeliveryClient.AddressOverrides) != 1 ||
		p.DeliveryClient.AddressOverrides[0] != "x" || p.Gossip.Bootstrap != "localhost:1" {
		t.Errorf("after setNode:\n%s", out)
	}
	if !strings.Contains(string(out), "# kept") {
		t.Errorf("setNode lost a comment:\n%s", out)
	}
	if err := setNode(&doc, []string{"peer", "id", "x"}, scalar("y")); err == nil {
		t.Error("setNode below a scalar succeeded")
	}
}
