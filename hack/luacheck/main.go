// Command luacheck runs one of shakedown's Argo CD Lua scripts the way Argo CD
// does, so the scripts are tested against the interpreter Argo CD embeds
// (gopher-lua) rather than a stock Lua.
//
// Argo CD gives user scripts a bare state: only the base, table and package
// libraries and an "os" that has just time and date; no string library. The
// watched object is the global `obj`, decoded from JSON into plain tables.
// This harness sets up the same, runs the script, and prints what Argo CD
// would take from the returned table:
//
//	luacheck -mode health    -script health.lua    -obj obj.json  -> {"status": ..., "message": ...}
//	luacheck -mode discovery -script discovery.lua -obj obj.json  -> {"action": {"disabled": bool}, ...}
//	luacheck -mode action    -script action.lua    -obj obj.json  -> the object to patch with
//
// -now pins os.time and os.date (RFC 3339), so an action's timestamp is known.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// healthCodes are the statuses Argo CD accepts; anything else becomes Unknown.
var healthCodes = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

func main() {
	mode := flag.String("mode", "health", "health, discovery or action")
	script := flag.String("script", "", "Lua file to run")
	objPath := flag.String("obj", "", "JSON file with the object (obj)")
	nowFlag := flag.String("now", "", "RFC 3339 time for os.time/os.date (default: the clock)")
	flag.Parse()
	if err := run(*mode, *script, *objPath, *nowFlag); err != nil {
		fmt.Fprintln(os.Stderr, "luacheck:", err)
		os.Exit(1)
	}
}

func run(mode, scriptPath, objPath, nowFlag string) error {
	if mode != "health" && mode != "discovery" && mode != "action" {
		return fmt.Errorf("-mode %q: want health, discovery or action", mode)
	}
	source, err := os.ReadFile(scriptPath)
	if err != nil {
		return fmt.Errorf("-script: %w", err)
	}
	raw, err := os.ReadFile(objPath)
	if err != nil {
		return fmt.Errorf("-obj: %w", err)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("-obj %s: not a JSON object: %w", objPath, err)
	}
	now := time.Now
	if nowFlag != "" {
		fixed, err := time.Parse(time.RFC3339, nowFlag)
		if err != nil {
			return fmt.Errorf("-now %q: %w", nowFlag, err)
		}
		now = func() time.Time { return fixed }
	}

	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			return err
		}
	}
	osFuncs := safeOs(now)
	L.SetGlobal("os", L.SetFuncs(L.NewTable(), osFuncs))
	L.PreloadModule("os", func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), osFuncs))
		return 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(source)); err != nil {
		return fmt.Errorf("%s: %w", scriptPath, err)
	}
	ret := L.Get(-1)
	table, ok := ret.(*lua.LTable)
	if !ok {
		return fmt.Errorf("%s returned %s, not a table", scriptPath, ret.Type())
	}
	out := fromLua(table)
	switch mode {
	case "health":
		m, _ := out.(map[string]any)
		status, _ := m["status"].(string)
		if !healthCodes[status] {
			out = map[string]any{"status": "Unknown", "message": "Lua returned an invalid health status"}
		}
	case "discovery":
		if list, isList := out.([]any); isList && len(list) == 0 {
			out = map[string]any{}
		}
		m, isMap := out.(map[string]any)
		if !isMap {
			return fmt.Errorf("%s: discovery must return a table of actions by name", scriptPath)
		}
		for name, spec := range m {
			entry := map[string]any{"disabled": false}
			if fields, ok := spec.(map[string]any); ok {
				for k, v := range fields {
					entry[k] = v
				}
			}
			m[name] = entry
		}
	case "action":
		m, isMap := out.(map[string]any)
		if !isMap {
			return fmt.Errorf("%s: an action must return the modified object", scriptPath)
		}
		out = restoreEmptyMaps(m, obj)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// toLua turns decoded JSON into plain Lua values: objects and arrays become tables,
// every number an LNumber (as Argo CD's decoder does).
func toLua(L *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return lua.LString(v.String())
		}
		return lua.LNumber(f)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetString(key, toLua(L, item))
		}
		return t
	}
	return lua.LNil
}

// fromLua turns a returned value back into JSON-ready Go values. A table with keys
// 1..n is an array; an empty table is an empty array (Lua cannot tell {} from []).
func fromLua(value lua.LValue) any {
	switch v := value.(type) {
	case lua.LBool:
		return bool(v)
	case lua.LString:
		return string(v)
	case lua.LNumber:
		f := float64(v)
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f)
		}
		return f
	case *lua.LTable:
		count := 0
		v.ForEach(func(lua.LValue, lua.LValue) { count++ })
		if n := v.MaxN(); n == count {
			list := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				list = append(list, fromLua(v.RawGetInt(i)))
			}
			return list
		}
		m := map[string]any{}
		v.ForEach(func(key, item lua.LValue) {
			m[key.String()] = fromLua(item)
		})
		return m
	}
	return nil
}

// restoreEmptyMaps undoes the {} -> [] confusion for fields that were objects in the
// input, as Argo CD does before it computes the patch (also inside lists).
func restoreEmptyMaps(out, in map[string]any) map[string]any {
	for key, newValue := range out {
		if oldValue, ok := in[key]; ok {
			out[key] = restore(newValue, oldValue)
		}
	}
	return out
}

func restore(newValue, oldValue any) any {
	switch nv := newValue.(type) {
	case map[string]any:
		if ov, ok := oldValue.(map[string]any); ok {
			return restoreEmptyMaps(nv, ov)
		}
	case []any:
		switch ov := oldValue.(type) {
		case map[string]any:
			if len(nv) == 0 {
				return ov
			}
		case []any:
			for i := range nv {
				if i < len(ov) {
					nv[i] = restore(nv[i], ov[i])
				}
			}
		}
	}
	return newValue
}

// safeOs is the subset of os Argo CD exposes: time() and date(format).
func safeOs(now func() time.Time) map[string]lua.LGFunction {
	return map[string]lua.LGFunction{
		"time": func(L *lua.LState) int {
			L.Push(lua.LNumber(now().Unix()))
			return 1
		},
		"date": func(L *lua.LState) int {
			format := L.OptString(1, "%c")
			t := now().Local()
			if strings.HasPrefix(format, "!") {
				t, format = t.UTC(), format[1:]
			}
			if L.GetTop() >= 2 {
				t = time.Unix(L.CheckInt64(2), 0).UTC()
			}
			L.Push(lua.LString(strftime(t, format)))
			return 1
		},
	}
}

func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'c':
			b.WriteString(t.Format("02 Jan 06 15:04 MST"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
