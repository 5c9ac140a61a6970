package orderer

import (
	"slices"
	"strings"
	"testing"
)

func TestWeftReorderChannels(t *testing.T) {
	cfg, err := LoadConfig("../sampleconfig")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Weft.Reorder.Channels) != 0 {
		t.Fatalf("reordering is on by default for %v", cfg.Weft.Reorder.Channels)
	}

	t.Setenv("ORDERER_WEFT_REORDER_CHANNELS", "[mychannel, other]")
	cfg, err = LoadConfig("../sampleconfig")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mychannel", "other"}; !slices.Equal(cfg.Weft.Reorder.Channels, want) {
		t.Fatalf("Weft.Reorder.Channels = %v, want %v", cfg.Weft.Reorder.Channels, want)
	}

	t.Setenv("ORDERER_WEFT_REORDER_CHANNELS", "[my channel]")
	if _, err := LoadConfig("../sampleconfig"); err == nil || !strings.Contains(err.Error(), "Weft.Reorder.Channels") {
		t.Fatalf("a bad channel name: %v, want an error naming Weft.Reorder.Channels", err)
	}
}
