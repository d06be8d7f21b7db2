package store

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// normalizeInPlace makes v, a pointer to a struct, what a JSON round trip
// (encoding/json, as the store encodes) would make of it, without the
// round trip: times (metav1.Time) truncated to the second and in the
// local zone as metav1.Time decodes them, and empty slices and maps of
// omitempty fields dropped. It reports false, having possibly changed
// part of v, when v holds anything it cannot vouch for: another type with
// its own JSON methods, an interface, an unexported or ignored field, a
// non-string map, invalid UTF-8, a float. The caller then takes the JSON
// round trip; a test holds the two equal over every field of TaskStatus.
func normalizeInPlace(v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	return normalizeValue(rv.Elem())
}

var (
	timeType        = reflect.TypeFor[metav1.Time]()
	marshalerType   = reflect.TypeFor[json.Marshaler]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

var ownJSON sync.Map // reflect.Type → bool

// hasOwnJSON reports whether t (or *t) has JSON or text methods of its
// own. It is asked for every value of every status write: the answer is
// kept per type (the four Implements checks were a tenth of the
// controller's CPU per status write, issue 14).
func hasOwnJSON(t reflect.Type) bool {
	if own, ok := ownJSON.Load(t); ok {
		return own.(bool)
	}
	pt := reflect.PointerTo(t)
	own := false
	for _, it := range []reflect.Type{marshalerType, unmarshalerType, textMarshaler, textUnmarshaler} {
		if t.Implements(it) || pt.Implements(it) {
			own = true
			break
		}
	}
	ownJSON.Store(t, own)
	return own
}

// fieldInfo is how encoding/json treats one struct field.
type fieldInfo struct {
	index     int
	omitEmpty bool
}

var structFields sync.Map // reflect.Type → []fieldInfo, or nil when unsupported

func fieldsOf(t reflect.Type) ([]fieldInfo, bool) {
	if f, ok := structFields.Load(t); ok {
		fs := f.([]fieldInfo)
		return fs, fs != nil
	}
	var fs []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if !sf.IsExported() || sf.Anonymous || name == "-" || strings.Contains(opts, "string") || strings.Contains(opts, "omitzero") || strings.Contains(opts, "inline") {
			structFields.Store(t, []fieldInfo(nil))
			return nil, false
		}
		fs = append(fs, fieldInfo{index: i, omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	if fs == nil {
		fs = []fieldInfo{}
	}
	structFields.Store(t, fs)
	return fs, true
}

func normalizeValue(v reflect.Value) bool {
	t := v.Type()
	if t == timeType {
		mt := v.Addr().Interface().(*metav1.Time)
		if mt.IsZero() {
			*mt = metav1.Time{}
			return true
		}
		if y := mt.UTC().Year(); y < 0 || y > 9999 {
			return false
		}
		*mt = metav1.NewTime(mt.UTC().Truncate(time.Second).Local())
		return true
	}
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return true
		}
		if t.Elem() == timeType && v.Interface().(*metav1.Time).IsZero() {
			// A zero time encodes as null, which decodes as a nil pointer.
			v.Set(reflect.Zero(t))
			return true
		}
		if k := t.Elem().Kind(); (k == reflect.Slice || k == reflect.Map || k == reflect.Pointer) && v.Elem().IsNil() {
			return false // null again, which decodes as a nil pointer
		}
		return normalizeValue(v.Elem())
	}
	if hasOwnJSON(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.String:
		return utf8.ValidString(v.String())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return false // base64 in JSON: leave it to the round trip
		}
		if v.IsNil() {
			return true
		}
		for i := range v.Len() {
			if !normalizeValue(v.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if t.Key().Kind() != reflect.String || t.Elem().Kind() != reflect.String {
			return false
		}
		iter := v.MapRange()
		for iter.Next() {
			if !utf8.ValidString(iter.Key().String()) || !utf8.ValidString(iter.Value().String()) {
				return false
			}
		}
		return true
	case reflect.Struct:
		fs, ok := fieldsOf(t)
		if !ok {
			return false
		}
		for _, f := range fs {
			fv := v.Field(f.index)
			if !normalizeValue(fv) {
				return false
			}
			if f.omitEmpty && (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && !fv.IsNil() && fv.Len() == 0 {
				fv.Set(reflect.Zero(fv.Type()))
			}
		}
		return true
	default: // floats, interfaces, arrays, channels, funcs
		return false
	}
}
