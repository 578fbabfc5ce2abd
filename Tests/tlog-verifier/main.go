// An independent check of OrgLedger's transparency log (issue #14, product spec §9) with Go's own
// golang.org/x/mod/sumdb/note and sumdb/tlog: nothing here shares code with the Swift implementation.
//
// It fetches the latest checkpoint over HTTP, verifies its signature with the verifier key printed by
// `orgledger checkpoint-key`, recomputes the root from the tiles (tlog.TileHashReader authenticates
// every tile it reads against that root), checks the inclusion proofs the service gives for random
// seqs against the leaves in the entry bundles, and checks a consistency proof from every earlier
// checkpoint given with -earlier.
//
// Build and run without a network: GO111MODULE=off GOPATH=/usr/share/gocode go run main.go -url … -key …
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8 // C2SP tlog-tiles: tiles of 256 hashes

var base string

func get(path string) ([]byte, error) {
	resp, err := http.Get(base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body, nil
}

// checkpoint is a verified C2SP tlog-checkpoint.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func openCheckpoint(msg []byte, verifier note.Verifier) (checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		return checkpoint{}, errors.New("checkpoint: too few lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return checkpoint{}, fmt.Errorf("checkpoint size %q", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("checkpoint root %q", lines[2])
	}
	if lines[0] != verifier.Name() {
		return checkpoint{}, fmt.Errorf("checkpoint origin %q, key %q", lines[0], verifier.Name())
	}
	var root tlog.Hash
	copy(root[:], raw)
	return checkpoint{lines[0], size, root}, nil
}

// tilePath is C2SP tlog-tiles' path of a tile: tile/<L>/<N>[.p/<W>], N in x001/234 groups.
func tilePath(level int, index int64, width int) string {
	digits := fmt.Sprintf("%03d", index%1000)
	for n := index / 1000; n > 0; n /= 1000 {
		digits = fmt.Sprintf("x%03d/", n%1000) + digits
	}
	path := digits
	if width < 1<<height {
		path += fmt.Sprintf(".p/%d", width)
	}
	if level < 0 {
		return "/v1/log/tile/entries/" + path
	}
	return fmt.Sprintf("/v1/log/tile/%d/%s", level, path)
}

// tiles reads hash tiles over HTTP for tlog.TileHashReader.
type tiles struct{}

func (tiles) Height() int { return height }
func (tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		data, err := get(tilePath(t.L, t.N, t.W))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}
func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

// leaf is the record hash of entry index (seq index+1), from its entry bundle.
func leaf(index, size int64) (tlog.Hash, error) {
	bundle := index / (1 << height)
	width := size - bundle*(1<<height)
	if width > 1<<height {
		width = 1 << height
	}
	data, err := get(tilePath(-1, bundle, int(width)))
	if err != nil {
		return tlog.Hash{}, err
	}
	for i := int64(0); ; i++ {
		if len(data) < 2 {
			return tlog.Hash{}, fmt.Errorf("entry bundle %d ends before entry %d", bundle, index)
		}
		n := int(data[0])<<8 | int(data[1])
		if len(data) < 2+n {
			return tlog.Hash{}, fmt.Errorf("entry bundle %d: entry %d cut short", bundle, i)
		}
		if bundle*(1<<height)+i == index {
			entry := data[2 : 2+n]
			var envelope map[string]any
			if err := json.Unmarshal(entry, &envelope); err != nil || envelope["seq"] != float64(index+1) {
				return tlog.Hash{}, fmt.Errorf("entry %d is not the envelope of seq %d", index, index+1)
			}
			return tlog.RecordHash(entry), nil
		}
		data = data[2+n:]
	}
}

func hashes(encoded []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(encoded))
	for i, e := range encoded {
		raw, err := base64.StdEncoding.DecodeString(e)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %q", e)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	url := flag.String("url", "", "the service's base URL (http://127.0.0.1:PORT)")
	key := flag.String("key", "", "the verifier key (orgledger checkpoint-key)")
	earlier := flag.String("earlier", "", "files of earlier checkpoints, comma-separated")
	samples := flag.Int("samples", 50, "random seqs to check inclusion of")
	flag.Parse()
	base = strings.TrimSuffix(*url, "/")

	verifier, err := note.NewVerifier(*key)
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := get("/v1/log/checkpoint")
	if err != nil {
		fail("%v", err)
	}
	latest, err := openCheckpoint(msg, verifier)
	if err != nil {
		fail("%v", err)
	}
	if latest.size == 0 {
		fail("the log is empty")
	}

	// The tiles: recompute the root; every tile read is authenticated against the checkpoint.
	reader := tlog.TileHashReader(tlog.Tree{N: latest.size, Hash: latest.root}, tiles{})
	root, err := tlog.TreeHash(latest.size, reader)
	if err != nil {
		fail("tiles: %v", err)
	}
	if root != latest.root {
		fail("the tiles give root %v, the checkpoint %v", root, latest.root)
	}

	// Inclusion proofs for random seqs (and the first and last), each against its leaf.
	seqs := []int64{1, latest.size}
	for i := 0; i < *samples; i++ {
		seqs = append(seqs, 1+rand.Int63n(latest.size))
	}
	for _, seq := range seqs {
		body, err := get(fmt.Sprintf("/v1/proofs/inclusion?seq=%d&size=%d", seq, latest.size))
		if err != nil {
			fail("%v", err)
		}
		var proof struct {
			Seq       int64    `json:"seq"`
			LeafIndex int64    `json:"leaf_index"`
			TreeSize  int64    `json:"tree_size"`
			Hashes    []string `json:"hashes"`
		}
		if err := json.Unmarshal(body, &proof); err != nil {
			fail("inclusion proof of %d: %v", seq, err)
		}
		if proof.Seq != seq || proof.LeafIndex != seq-1 || proof.TreeSize != latest.size {
			fail("inclusion proof of %d names seq %d, leaf %d, size %d", seq, proof.Seq, proof.LeafIndex, proof.TreeSize)
		}
		path, err := hashes(proof.Hashes)
		if err != nil {
			fail("%v", err)
		}
		h, err := leaf(seq-1, latest.size)
		if err != nil {
			fail("%v", err)
		}
		if err := tlog.CheckRecord(path, latest.size, latest.root, seq-1, h); err != nil {
			fail("inclusion of seq %d in %d: %v", seq, latest.size, err)
		}
		// The proof the tiles give is the same proof.
		own, err := tlog.ProveRecord(latest.size, seq-1, reader)
		if err != nil || len(own) != len(path) {
			fail("tlog's own proof of %d: %v", seq, err)
		}
		for i := range own {
			if own[i] != path[i] {
				fail("proof of %d differs from tlog's at %d", seq, i)
			}
		}
	}

	// Consistency: every earlier checkpoint is a prefix of the latest.
	checked := 0
	for _, file := range strings.Split(*earlier, ",") {
		if file == "" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		old, err := openCheckpoint(data, verifier)
		if err != nil {
			fail("%s: %v", file, err)
		}
		if old.size > latest.size {
			fail("%s is of size %d, beyond the latest %d", file, old.size, latest.size)
		}
		body, err := get(fmt.Sprintf("/v1/proofs/consistency?from=%d&to=%d", old.size, latest.size))
		if err != nil {
			fail("%v", err)
		}
		var proof struct {
			From   int64    `json:"from"`
			To     int64    `json:"to"`
			Hashes []string `json:"hashes"`
		}
		if err := json.Unmarshal(body, &proof); err != nil || proof.From != old.size || proof.To != latest.size {
			fail("consistency proof %d → %d: %v %s", old.size, latest.size, err, body)
		}
		path, err := hashes(proof.Hashes)
		if err != nil {
			fail("%v", err)
		}
		if err := tlog.CheckTree(path, latest.size, latest.root, old.size, old.root); err != nil {
			fail("consistency %d → %d: %v", old.size, latest.size, err)
		}
		checked++
	}
	fmt.Printf("ok: checkpoint %s size %d verified; root recomputed from tiles; %d inclusion proofs; %d consistency proofs\n",
		latest.origin, latest.size, len(seqs), checked)
}
