package store

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// fill sets v (settable) to random content of its type, every field,
// slices and maps nil, empty or full, times with nanoseconds and zones.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	if v.Type() == timeType {
		switch r.IntN(4) {
		case 0:
			v.Set(reflect.ValueOf(metav1.Time{}))
		default:
			zone := time.FixedZone("x", r.IntN(48*1800)-24*1800)
			t := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(zone)
			v.Set(reflect.ValueOf(metav1.NewTime(t)))
		}
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if r.IntN(3) > 0 {
			v.SetInt(r.Int64N(1000) - 500)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if r.IntN(3) > 0 {
			v.SetUint(r.Uint64N(1000))
		}
	case reflect.String:
		words := []string{"", "Running", "Ready", "ünïcode ✓", "<&>", "a\"b\\c", "line\nbreak"}
		v.SetString(words[r.IntN(len(words))])
	case reflect.Pointer:
		if r.IntN(3) == 0 || depth > 4 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		switch r.IntN(3) {
		case 0:
			return // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			s := reflect.MakeSlice(v.Type(), 1+r.IntN(3), 3)
			for i := range s.Len() {
				fill(r, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		switch r.IntN(3) {
		case 0:
			return
		case 1:
			v.Set(reflect.MakeMap(v.Type()))
		default:
			m := reflect.MakeMap(v.Type())
			for range 1 + r.IntN(3) {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fill(r, k, depth+1)
				fill(r, e, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	}
}

// TestNormalizeInPlace_SameAsJSONRoundTrip holds the shortcut of the status
// write to what it replaces, over random content in every field of
// TaskStatus (so a field added later is covered, or refused and left to
// the round trip).
func TestNormalizeInPlace_SameAsJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shortcut := 0
	for i := range 3000 {
		var in v1.TaskStatus
		fill(r, reflect.ValueOf(&in).Elem(), 0)
		data, err := json.Marshal(&in)
		if err != nil {
			t.Fatal(err)
		}
		var want v1.TaskStatus
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got := *in.DeepCopy()
		if normalizeInPlace(&got) {
			shortcut++
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("case %d: normalizeInPlace\n%#v\nJSON round trip\n%#v", i, got, want)
			}
		}
		viaStore, err := normalizedStatus("x", &in)
		if err != nil || !reflect.DeepEqual(viaStore, want) {
			t.Fatalf("case %d: normalizedStatus %v\n%#v\nwant\n%#v", i, err, viaStore, want)
		}
	}
	if shortcut < 2000 {
		t.Errorf("the shortcut served %d of 3000 statuses; it refuses too much", shortcut)
	}
}

func TestNormalizeInPlace_RefusesWhatItCannotVouchFor(t *testing.T) {
	s := v1.TaskStatus{Message: "bad \xff utf-8"}
	if normalizeInPlace(&s) {
		t.Error("invalid UTF-8 accepted")
	}
	got, err := normalizedStatus("x", &v1.TaskStatus{Message: "bad \xff utf-8"})
	if err != nil || got.Message != "bad \ufffd utf-8" {
		t.Errorf("round trip fallback: %q, %v", got.Message, err)
	}
	type withFloat struct {
		F float64 `json:"f"`
	}
	if normalizeInPlace(&withFloat{F: 1}) {
		t.Error("float accepted")
	}
	type withIgnored struct {
		A string `json:"-"`
	}
	if normalizeInPlace(&withIgnored{}) {
		t.Error("ignored field accepted")
	}
}
