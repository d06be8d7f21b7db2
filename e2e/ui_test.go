package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	v1 "github.com/cubelet/cubelet/apis/v1"
)

// screenshotEnv asks TestE2E_UI_Dashboard to rewrite docs/dashboard.png,
// the README's picture of the task table; otherwise it is written to a
// temporary directory, so a test run never dirties the tree.
const screenshotEnv = "CUBELET_UPDATE_SCREENSHOT"

// uiWait bounds each wait for the page; watch-fed updates take
// milliseconds, a container start a second or two.
const uiWait = 20 * time.Second

// browser is one headless Chromium tab, with what the page reported.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	dialogs    []string // confirm() texts, each accepted
	exceptions []string // uncaught JavaScript errors
}

// findChromium returns Debian's chromium (or a Chrome) on PATH. Without
// one the test fails under CI=true, where .ci/run installs it, and is
// skipped elsewhere.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: browser tests must not skip under CI=true (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium)")
	return ""
}

// newBrowser starts headless Chromium at 1280x800 with light colours,
// accepting every confirm() and recording uncaught exceptions.
func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 800))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run its sandbox as root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	b.colorScheme("light")

	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	exceptions := chromedp.Events(ctx, cdpruntime.ExceptionThrown)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		b.t.Fatalf("emulate %s colour scheme: %v", scheme, err)
	}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.report())
	}
}

// until waits for a JavaScript expression to become truthy, re-evaluated
// on every animation frame by Chromium itself (chromedp.Poll).
func (b *browser) until(what, expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(uiWait))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v%s", what, expr, err, b.report())
	}
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v%s", expr, err, b.report())
	}
	return v
}

// report is what the page showed, for failure messages.
func (b *browser) report() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("\npage text:\n%s\nexceptions: %q\ndialogs: %q", text, b.exceptions, b.dialogs)
}

func (b *browser) noExceptions() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		b.t.Errorf("uncaught JavaScript errors: %q", b.exceptions)
	}
}

func (b *browser) sawDialog(prefix string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.dialogs {
		if strings.HasPrefix(d, prefix) {
			return true
		}
	}
	return false
}

// cell is the JavaScript text of a column of a task's row ("" without the row).
func cell(task, col string) string {
	return fmt.Sprintf(`(document.querySelector('tr[data-name=%q] td[data-col=%q]')?.textContent ?? '')`, task, col)
}

// TestE2E_UI_Dashboard drives /ui/ of the real binary in headless
// Chromium: a task PUT through the API appears and reaches Running without
// a reload (watch-fed), its CPU and memory appear, the editor applies a
// task and shows a 422's field, the table fits 800 px, the task page
// streams the log, and stop and delete go through confirm().
func TestE2E_UI_Dashboard(t *testing.T) {
	chromium := findChromium(t)
	e := newEnv(t)
	c := e.start("--stats-interval", "1s")
	b := newBrowser(t, chromium)
	began := time.Now()

	b.do("open /ui/", chromedp.Navigate(c.base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#tasks")))
	b.until("the watch to be live", `document.getElementById('conn').dataset.state === 'live'`)
	// A marker that a reload would lose, and a record of every state the
	// row shows, kept by the page itself.
	b.do("install observers", chromedp.Evaluate[chromedp.Void](`
		window.__noReload = true;
		window.__states = [];
		new MutationObserver(() => {
			const s = document.querySelector('tr[data-name="ui-web"] td[data-col="state"]')?.textContent;
			if (s && window.__states.at(-1) !== s) window.__states.push(s);
		}).observe(document.getElementById('tasks'), {subtree: true, childList: true, characterData: true});
		undefined`))

	web := e.task("ui-web", func(t *v1.Task) {
		t.Labels = map[string]string{"app": "web"}
		t.Spec.Args = []string{"--listen", ":8080", "--print-every", "200ms"}
		t.Spec.Ports = []v1.PortMapping{{ContainerPort: 8080}}
	})
	c.put(web)
	b.until("ui-web to reach Running", cell("ui-web", "state")+` === 'Running'`)
	if states := eval[[]string](b, `window.__states`); len(states) < 2 || states[0] != "Pending" {
		t.Errorf("the row showed %q; want it to start Pending and change in place", states)
	}
	b.until("memory of ui-web", cell("ui-web", "mem")+`.endsWith('i')`)
	b.until("CPU of ui-web", cell("ui-web", "cpu")+`.endsWith('m')`)
	b.until("a published port link", `document.querySelector('tr[data-name="ui-web"] td[data-col="ports"] a')?.href.startsWith('http://')`)

	// Apply through the editor: one task created, then a 422 shown per field.
	b.do("open Apply", chromedp.Click(chromedp.CSS(`nav a[data-nav="apply"]`)), chromedp.WaitVisible(chromedp.CSS("#apply-editor")))
	// YAML here, JSON for the invalid one below: the editor reads both.
	apiTask := fmt.Sprintf(`# applied as YAML
metadata:
  name: ui-api
  labels: {app: api}
spec:
  image: %s
  args: ["--listen", ":8080"]
  resources:
    memory: 64Mi
`, e.image)
	b.do("apply ui-api", chromedp.SetValue(chromedp.CSS("#apply-editor"), apiTask), chromedp.Click(chromedp.CSS("#apply-submit")))
	b.until("ui-api created", `document.getElementById('apply-results').textContent.includes('task/ui-api created')`)
	bad := `{"metadata":{"name":"ui-bad"},"spec":{"image":"x","restartPolicy":"Sometimes"}}`
	b.do("apply an invalid task", chromedp.SetValue(chromedp.CSS("#apply-editor"), bad), chromedp.Click(chromedp.CSS("#apply-submit")))
	b.until("the 422 cause for spec.restartPolicy", `document.querySelector('#apply-results li[data-field="spec.restartPolicy"]') !== null`)
	if _, code := c.get("ui-bad"); code != http.StatusNotFound {
		t.Errorf("ui-bad: GET %d after a refused apply; want 404", code)
	}

	// Back to the table, by keyboard: "/" focuses the label filter.
	b.do("back to Tasks", chromedp.Click(chromedp.CSS(`nav a[data-nav="tasks"]`)), chromedp.WaitVisible(chromedp.CSS("#tasks")))
	b.until("ui-api Running", cell("ui-api", "state")+` === 'Running'`)
	b.until("memory of ui-api", cell("ui-api", "mem")+`.endsWith('i')`)
	b.do("press /", chromedp.KeyEvent("/"))
	if id := eval[string](b, `document.activeElement.id`); id != "label-filter" {
		t.Errorf("after /, focus is on %q; want the label filter", id)
	}
	// CDP delivers the key's "char" separately from its keydown, so the "/"
	// the page swallowed in a real browser lands in the field here: clear it.
	b.do("filter app=web", chromedp.Evaluate[chromedp.Void](`document.getElementById('label-filter').value = ''; undefined`), chromedp.SendKeys(chromedp.CSS("#label-filter"), "app=web"))
	b.until("only ui-web listed", `document.querySelectorAll('#tasks tbody tr').length === 1 && `+cell("ui-web", "state")+` !== ''`)
	b.do("clear the filter", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.getElementById('label-filter'); i.value = ''; i.dispatchEvent(new Event('input')); })()`))
	b.until("both rows back", `document.querySelectorAll('#tasks tbody tr').length === 2`)
	b.until("sparklines drawn", `document.querySelectorAll('#tasks svg.spark polyline').length === 2`)
	b.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	b.screenshot()

	// 800 px wide: nothing overflows sideways, in dark mode too.
	b.do("800 px", chromedp.EmulateViewport(800, 800))
	b.colorScheme("dark")
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 800 {
		t.Errorf("at 800 px the page is %d px wide; want no horizontal scroll", w)
	}
	if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg == "rgb(250, 250, 250)" {
		t.Errorf("dark mode background is the light one (%s)", bg)
	}
	b.colorScheme("light")
	b.do("1280 px", chromedp.EmulateViewport(1280, 800))

	// The task page: the live log, then stop and delete through confirm().
	b.do("open ui-web", chromedp.Click(chromedp.CSS(`tr[data-name="ui-web"] td[data-col="name"] a`)), chromedp.WaitVisible(chromedp.CSS("#log")))
	b.until("log lines", `document.getElementById('log').textContent.includes('workload')`)
	first := eval[string](b, `document.getElementById('log').textContent`)
	b.until("new log lines while following", `document.getElementById('log').textContent.length > `+fmt.Sprint(len(first)))
	b.until("the spec as YAML", `document.querySelector('pre.spec').textContent.includes('image: ')`)
	b.until("a transition to Running", `[...document.querySelectorAll('ol.timeline li')].some(li => li.textContent.includes('→ Running'))`)

	b.do("stop", chromedp.Click(chromedp.CSS(`button[data-action="stop"]`)))
	b.until("ui-web Completed", `document.querySelector('h1 .state')?.textContent === 'Completed'`)
	if !b.sawDialog("Stop ui-web?") {
		t.Errorf("stop ran without a confirm()%s", b.report())
	}
	if got, _ := c.get("ui-web"); got.Spec.DesiredState != v1.Completed {
		t.Errorf("after stop, desiredState %q; want Completed", got.Spec.DesiredState)
	}
	b.do("delete", chromedp.Click(chromedp.CSS(`button[data-action="delete"]`)))
	b.until("the page to say ui-web is gone", `!document.querySelector('main p.empty').hidden`)
	b.do("back to Tasks", chromedp.Click(chromedp.CSS(`nav a[data-nav="tasks"]`)), chromedp.WaitVisible(chromedp.CSS("#tasks")))
	b.until("the ui-web row to go", `document.querySelector('tr[data-name="ui-web"]') === null && `+cell("ui-api", "state")+` !== ''`)
	if !eval[bool](b, `window.__noReload === true`) {
		t.Error("the page reloaded; every change must come through the watch")
	}
	b.noExceptions()
	t.Logf("browser steps took %s", time.Since(began).Round(time.Millisecond))
}

// screenshot captures the task table (1280 px wide, light) as a PNG:
// docs/dashboard.png when CUBELET_UPDATE_SCREENSHOT=1, else a temp file.
func (b *browser) screenshot() {
	b.t.Helper()
	b.do("frame the table", chromedp.EmulateViewport(1280, 420))
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	b.do("restore the viewport", chromedp.EmulateViewport(1280, 800))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	if len(png) > 200<<10 {
		b.t.Errorf("screenshot is %d bytes; keep it under 200 KiB", len(png))
	}
	path := filepath.Join(b.t.TempDir(), "dashboard.png")
	if os.Getenv(screenshotEnv) == "1" {
		path = filepath.Join("..", "docs", "dashboard.png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// TestE2E_UI_TokenPrompt serves the API on TCP with a token: the page
// loads without one, asks for it when the API answers 401, says so when a
// wrong one is refused, and works once the right one is entered.
func TestE2E_UI_TokenPrompt(t *testing.T) {
	chromium := findChromium(t)
	e := newEnv(t)
	token := strings.Repeat("s3cr3t-", 6)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	c := e.start("--addr", addr, "--token-file", tokenFile)
	c.put(e.task("ui-tok"))
	b := newBrowser(t, chromium)

	b.do("open /ui/", chromedp.Navigate("http://"+addr+"/ui/"))
	b.until("the token dialog", `document.getElementById('token-dialog').open`)
	b.do("enter a wrong token", chromedp.SendKeys(chromedp.CSS("#token-input"), "wrong-token"), chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
	b.until("the refusal", `document.getElementById('token-dialog').open && !document.getElementById('token-error').hidden`)
	b.do("enter the token", chromedp.SetValue(chromedp.CSS("#token-input"), token), chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
	b.until("the table with ui-tok", cell("ui-tok", "name")+` === 'ui-tok'`)
	b.until("the watch to be live", `document.getElementById('conn').dataset.state === 'live'`)
	if stored := eval[string](b, `sessionStorage.getItem('cubelet.token')`); stored != token {
		t.Errorf("sessionStorage holds %q; want the token", stored)
	}
	if eval[bool](b, `document.getElementById('token-dialog').open`) {
		t.Error("the token dialog is still open")
	}
	b.noExceptions()
}

// TestE2E_UI_WatchSurvivesARestartOfCubelet stops cubelet under an open
// page and starts it again on the same socket and store: the page shows
// the stream down, reconnects by itself (resuming from its last
// resourceVersion, or relisting on 410), and a task created afterwards
// appears without a reload.
func TestE2E_UI_WatchSurvivesARestartOfCubelet(t *testing.T) {
	chromium := findChromium(t)
	e := newEnv(t)
	c1 := e.start()
	c1.put(e.task("ui-before"))
	b := newBrowser(t, chromium)
	b.do("open /ui/", chromedp.Navigate(c1.base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#tasks")))
	b.until("ui-before listed", cell("ui-before", "name")+` === 'ui-before'`)
	b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__noReload = true; undefined`))

	if err := c1.stop(); err != nil {
		t.Fatalf("stop cubelet: %v", err)
	}
	b.until("the page to see the stream down", `document.getElementById('conn').dataset.state === 'down'`)

	// The same URL: the harness's forwarder dials the socket path anew for
	// each connection, and the new cubelet serves that path.
	c2 := e.spawn(c1.base, "--socket", c1.socket, "--resync", "1h", "--drain-timeout", "20s")
	c2.waitReady()
	b.until("the stream back", `document.getElementById('conn').dataset.state === 'live'`)
	c2.put(e.task("ui-after"))
	b.until("ui-after listed", cell("ui-after", "name")+` === 'ui-after' && `+cell("ui-before", "name")+` === 'ui-before'`)
	b.until("ui-after Running", cell("ui-after", "state")+` === 'Running'`)
	if !eval[bool](b, `window.__noReload === true`) {
		t.Error("the page reloaded")
	}
	b.noExceptions()
}
