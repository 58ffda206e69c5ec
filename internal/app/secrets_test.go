package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/config"
	"github.com/clusterhealth/healthd/internal/engine"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/internal/testkit/rabbittest"
	"github.com/clusterhealth/healthd/workflows"
)

// TestNoSecretsLeak runs the health worker, the engine and the bridge with a
// known secret in every credential they hold: the database and AMQP
// passwords, the recover webhook's userinfo password and query token, the
// status URL's, the webhook signing key and the Temporal API key. A poll-URL
// node fails and is recovered through the webhook, a notification starts a
// recovery whose webhook call fails, the status URL fails once and then answers, and the
// database and the broker are unreachable once each. Then every log line
// (debug level), every error returned, the workflow histories (payloads
// decoded), the status queries, the rows healthd wrote and the /metrics text
// are searched for each secret; the test fails naming where one appears.
func TestNoSecretsLeak(t *testing.T) {
	ctx := context.Background()
	secrets := map[string]string{
		"database password":      newSecret(t),
		"AMQP password":          newSecret(t),
		"webhook URL password":   newSecret(t),
		"webhook URL token":      newSecret(t),
		"status URL password":    newSecret(t),
		"status URL token":       newSecret(t),
		"webhook signing secret": newSecret(t),
		"Temporal API key":       newSecret(t),
	}
	var leaks leakScan
	leaks.secrets = secrets

	// Services first, so that they are cleaned up after the app stopped.
	temporalSrv := startTemporal(t)
	dsn := secretDatabase(t, secrets["database password"])
	amqpSecretURL := secretAMQPUser(t, secrets["AMQP password"])

	ns := newNodes(t, "n-1", "n-2", "n-3")
	ns.mu.Lock()
	ns.broken["n-2"] = true
	ns.mu.Unlock()
	hook := newSecretHook(t, ns, secrets["webhook URL password"], secrets["webhook URL token"], secrets["webhook signing secret"])
	status := newSecretStatus(t, secrets["status URL password"], secrets["status URL token"])

	cfg := app.Defaults()
	cfg.Temporal.Address = temporalSrv.Address
	cfg.Database.URL = dsn
	cfg.Metrics.Addr = ""
	cfg.Health.IntervalMin = 1
	cfg.Network.Allow = testAllow
	cfg.Bridge.MaxEventAge = 0 // the captured notification is old
	cfg.Engine.WebhookSecret = secrets["webhook signing secret"]
	// Every call to Temporal carries the API key (the dev server ignores it;
	// it has no TLS, so TLS is turned off explicitly).
	cfg.Temporal.APIKey, cfg.Temporal.TLS, cfg.Temporal.APIKeyPlaintext = secrets["Temporal API key"], "false", true
	cfg.Bridge.URL = amqpSecretURL
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	cfg.Bridge.NovaExchange = "nova.secrets." + suffix
	cfg.Bridge.HeatExchange = "heat.secrets." + suffix
	cfg.Bridge.NovaQueue = "healthd.nova.secrets." + suffix
	cfg.Bridge.HeatQueue = "healthd.heat.secrets." + suffix
	cfg.Bridge.DeadLetterExchange = "healthd.dlx.secrets." + suffix
	cfg.Bridge.DeadLetterQueue = "healthd.dead.secrets." + suffix
	ch := amqpChannel(t, cfg)

	// What the processes print about their configuration, and the errors of
	// invalid settings.
	leaks.scanConfig(t, cfg)

	// The clusters exist before the engine starts, so that its first status
	// refresh reads their status URL.
	st, err := store.Open(ctx, dsn)
	leaks.add("error of store.Open", fmt.Sprint(err))
	require.NoError(t, err, "open the test database")
	require.NoError(t, st.Migrate(ctx), "migrate the test database")
	pollCluster := "c-secrets"
	f := loadFixture(t, "member.nova.compute.instance.shutdown.end.messagingv2")
	ev := f.event
	for _, cl := range []health.Cluster{
		{ID: pollCluster, Name: pollCluster, Project: "p", RecoverWebhook: hook.url, StatusURL: status.url},
		{ID: ev.ClusterID, Name: "events", Project: ev.Signal.Project, ProfileType: "os.nova.server-1.0",
			RecoverWebhook: hook.url, StatusURL: status.url},
	} {
		require.NoError(t, st.UpsertCluster(ctx, cl), "store cluster %s", cl.ID)
	}
	for _, n := range []health.Node{
		{ID: "id-n-1", ClusterID: pollCluster, Name: "n-1"},
		{ID: "id-n-2", ClusterID: pollCluster, Name: "n-2"},
		{ID: "id-n-3", ClusterID: pollCluster, Name: "n-3"},
		{ID: ev.Signal.NodeID, ClusterID: ev.ClusterID, Name: "member", PhysicalID: ev.Signal.PhysicalID},
	} {
		n.Status, n.InitAt = health.NodeActive, time.Now().Add(-time.Hour)
		require.NoError(t, st.UpsertNode(ctx, n), "store node %s", n.ID)
	}
	st.Close()

	logs := &syncBuffer{}
	logger := zap.New(zapcore.NewTee(
		zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zapcore.DebugLevel),
		zaptest.NewLogger(t).Core()))
	m, stop := runAppUntilStopped(t, cfg, logger, app.RoleHealth, app.RoleEngine, app.RoleBridge)
	require.Eventually(t, func() bool { return m.Ready() == nil }, 60*time.Second, waitTick, "waiting for the app to be ready")

	c := dialTemporal(t, temporalSrv.Address)
	startCluster(t, c, pollURLRegistration(pollCluster, ns.srv.URL, 60))
	startCluster(t, c, eventsRegistration(ev.ClusterID, health.Safety{}))
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, ev.ClusterID).ClusterID != "" }, 30*time.Second, waitTick,
		"waiting for the events cluster's workflow to learn its cluster")
	err = ch.PublishWithContext(ctx, cfg.Bridge.NovaExchange, f.routingKey, false, false, amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: f.body})
	require.NoError(t, err, "publish %s", f.name)

	require.Eventually(t, func() bool { return clusterStatus(ctx, c, pollCluster).Counters.RecoveriesSucceeded == 1 },
		60*time.Second, waitTick, "waiting for the poll-URL node's recovery to succeed")
	require.Eventually(t, func() bool { return clusterStatus(ctx, c, ev.ClusterID).Counters.RecoveriesFailed >= 1 },
		60*time.Second, waitTick, "waiting for the notified node's recovery to fail")
	// The status URL failed on the first refresh; the next one works.
	require.Eventually(t, status.served,
		2*engine.DefaultStatusRefresh+30*time.Second, waitTick, "waiting for a status refresh to succeed after the failed one")
	leaks.add("error of Ready", fmt.Sprint(m.Ready()))

	// The webhook calls carried the credentials of the URL and a valid
	// signature: the secrets are used where they belong.
	for _, call := range hook.recorded() {
		if call.err != "" {
			t.Errorf("webhook call for %s: %s", call.clusterID, call.err)
		}
	}

	for _, wf := range []string{pollCluster, ev.ClusterID} {
		id := workflows.WorkflowID(wf)
		for i, run := range clusterHistory(t, c, id) {
			for _, e := range run {
				leaks.addProto(fmt.Sprintf("history of %s, run %d, event %d %s", id, i+1, e.GetEventId(), e.GetEventType()), e)
			}
		}
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		require.NoError(t, err, "describe %s", id)
		leaks.addProto("description of "+id, desc)
		v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
		require.NoError(t, err, "query the status of %s", id)
		var raw json.RawMessage
		require.NoError(t, v.Get(&raw), "decode the status of %s", id)
		leaks.add("status query of "+id, string(raw))
	}
	leaks.scanRows(t, ctx, m.Store)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, "/metrics")
	leaks.add("/metrics", rec.Body.String())

	leaks.add("error of Run", fmt.Sprint(stop()))

	// Unreachable services: what the processes log and return then.
	down := cfg
	down.Database.URL = withPort(t, dsn, "1")
	down.Bridge.URL = withPort(t, amqpSecretURL, "1")
	err = app.New(down, logger.Named("db-down")).Run(ctx, app.RoleEngine)
	if err == nil {
		t.Error("engine with the database down: Run returned nil, want an error")
	}
	leaks.add("error of Run with the database down", fmt.Sprint(err))
	broker, stopBroker := runAppUntilStopped(t, down, logger.Named("amqp-down"), app.RoleBridge)
	require.Eventually(t, func() bool { return broker.Ready() != nil && strings.Contains(broker.Ready().Error(), "rabbitmq") }, 30*time.Second,
		waitTick, "waiting for the bridge to report the broker down")
	leaks.add("error of Ready with the broker down", fmt.Sprint(broker.Ready()))
	leaks.add("error of Run with the broker down", fmt.Sprint(stopBroker()))

	leaks.addLogs(logs.String())
	leaks.report(t)
	t.Logf("searched %d log lines and %d other texts for %d secrets", leaks.logLines, len(leaks.texts)-leaks.logLines, len(secrets))
}

// newSecret returns a random secret, hex so that no encoding (JSON, URL,
// Prometheus labels) changes how it is written.
func newSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "s" + hex.EncodeToString(b)
}

// secretDatabase creates a login role with password on the test's Postgres
// server and a fresh database owned by it, and returns the DSN of the role,
// password included. The database, then the role, are dropped when the test
// ends. The local server trusts its clients: the password is carried, not
// checked.
func secretDatabase(t testing.TB, password string) string {
	t.Helper()
	ctx := context.Background()
	admin := os.Getenv(storetest.EnvURL)
	if admin == "" {
		admin = storetest.DefaultURL
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to Postgres as the administrator (%s): %v", storetest.EnvURL, err)
	}
	defer conn.Close(ctx)
	role := "healthd_secret_test_" + newSecret(t)[1:9]
	ident := pgx.Identifier{role}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+ident+" LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Fatalf("create role %s: %v", role, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+ident); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := url.Parse(storetest.EmptyDSN(t))
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a postgres:// URL for this test", storetest.EnvURL)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER TO "+ident); err != nil {
		t.Fatalf("give database %s to role %s: %v", db, role, err)
	}
	u.User = url.UserPassword(role, password)
	return u.String()
}

// secretAMQPUser adds a user with password to the local RabbitMQ, allowed
// everything on the default vhost, and returns its AMQP URL; the user is
// deleted when the test ends.
func secretAMQPUser(t testing.TB, password string) string {
	t.Helper()
	base := amqpURL()
	user := "healthd_secret_test_" + newSecret(t)[1:9]
	if _, err := rabbittest.LocalCtl(base, "add_user", user, password); err != nil {
		t.Fatalf("add RabbitMQ user %s: %v", user, strings.ReplaceAll(err.Error(), password, "<password>"))
	}
	t.Cleanup(func() {
		if _, err := rabbittest.LocalCtl(base, "delete_user", user); err != nil {
			t.Errorf("delete RabbitMQ user %s: %v", user, err)
		}
	})
	if _, err := rabbittest.LocalCtl(base, "set_permissions", "-p", "/", user, ".*", ".*", ".*"); err != nil {
		t.Fatalf("allow RabbitMQ user %s: %v", user, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal("TEST_AMQP_URL cannot be parsed")
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// amqpChannel opens the test's own channel on the broker of cfg, as the
// shared guest, and deletes the bridge's exchanges and queues when the test
// ends, after the app stopped.
func amqpChannel(t testing.TB, cfg app.Config) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(amqpURL())
	if err != nil {
		t.Fatalf("connect to RabbitMQ at %s: %v", config.RedactURL(amqpURL()), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, x := range []string{cfg.Bridge.NovaExchange, cfg.Bridge.HeatExchange, cfg.Bridge.DeadLetterExchange} {
			_ = ch.ExchangeDelete(x, false, false)
		}
		for _, q := range []string{cfg.Bridge.NovaQueue, cfg.Bridge.HeatQueue, cfg.Bridge.DeadLetterQueue} {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})
	return ch
}

// withPort returns the URL with its port replaced.
func withPort(t testing.TB, raw, port string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal("cannot parse a test URL")
	}
	u.Host = u.Hostname() + ":" + port
	return u.String()
}

// runAppUntilStopped runs roles of the app on cfg and waits until they have
// started. stop ends the run and returns what Run returned; it is called
// when the test ends if the test did not.
func runAppUntilStopped(t testing.TB, cfg app.Config, logger *zap.Logger, roles ...string) (m *app.Main, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m = app.New(cfg, logger)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, roles...) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	require.Eventually(t, m.Started, 60*time.Second, waitTick, "waiting for the app to start")
	return m, stop
}

// secretHook is a recover webhook at a URL with a password and a token: it
// checks that each call carries them and a valid signature, brings the
// poll-URL nodes back and hangs up on calls for any other cluster (a
// transport error for the engine).
type secretHook struct {
	url   string
	mu    sync.Mutex
	calls []hookCall
}

// hookCall is one call of the webhook; err says what was wrong with it.
type hookCall struct {
	clusterID string
	err       string
}

func newSecretHook(t testing.TB, ns *nodes, password, token, signingSecret string) *secretHook {
	h := &secretHook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req engine.WebhookRequest
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		var problems []string
		if err != nil {
			problems = append(problems, "body: "+err.Error())
		}
		if _, pw, _ := r.BasicAuth(); pw != password {
			problems = append(problems, "the URL's password did not arrive")
		}
		if r.URL.Query().Get("token") != token {
			problems = append(problems, "the URL's token did not arrive")
		}
		if r.Header.Get(engine.ActionIDHeader) != req.ActionID {
			problems = append(problems, fmt.Sprintf("%s: got %q, want %q", engine.ActionIDHeader, r.Header.Get(engine.ActionIDHeader), req.ActionID))
		}
		if err := engine.VerifyWebhookSignature(engine.ClusterWebhookKey(signingSecret, req.ClusterID), r.Header.Get(engine.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			problems = append(problems, fmt.Sprintf("%v (is ENGINE_WEBHOOK_SECRET passed to the engine.Executor?)", err))
		}
		h.mu.Lock()
		h.calls = append(h.calls, hookCall{clusterID: req.ClusterID, err: strings.Join(problems, "; ")})
		h.mu.Unlock()
		if req.ClusterID != "c-secrets" {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		ns.mu.Lock()
		ns.broken[req.NodeName] = false
		ns.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = strings.Replace(srv.URL, "http://", "http://healthd:"+password+"@", 1) + "/recover?token=" + token
	return h
}

func (h *secretHook) recorded() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.calls...)
}

// secretStatus is the status URL, with a password and a token, of both
// clusters: it hangs up on the reads of the first refresh (a failure, which
// the engine logs), and reports no node to later ones.
type secretStatus struct {
	url   string
	mu    sync.Mutex
	reads int
}

// statusClusters is how many clusters read the status URL in each refresh.
const statusClusters = 2

func newSecretStatus(t testing.TB, password, token string) *secretStatus {
	s := &secretStatus{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pw, _ := r.BasicAuth()
		if pw != password || r.URL.Query().Get("token") != token {
			http.Error(w, "credentials missing", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.reads++
		n := s.reads
		s.mu.Unlock()
		if n <= statusClusters {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"nodes": []}`)
	}))
	t.Cleanup(srv.Close)
	s.url = strings.Replace(srv.URL, "http://", "http://engine:"+password+"@", 1) + "/status?token=" + token
	return s
}

// served reports whether a refresh after the failed one read the URL for
// every cluster.
func (s *secretStatus) served() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads >= 2*statusClusters
}

// leakScan collects every text healthd produced and reports the secrets in
// them.
type leakScan struct {
	secrets  map[string]string
	texts    []scanned
	logLines int
}

// scanned is one text and where it came from.
type scanned struct{ where, text string }

func (l *leakScan) add(where, text string) { l.texts = append(l.texts, scanned{where, text}) }

// addProto adds a Temporal message as protojson and, since protojson shows
// payloads in base64, the data of every payload in it.
func (l *leakScan) addProto(where string, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		l.add(where, "cannot marshal: "+err.Error())
		return
	}
	var payloads []string
	collectPayloads(m.ProtoReflect(), &payloads)
	l.add(where, string(b)+"\n"+strings.Join(payloads, "\n"))
}

// collectPayloads appends the data and metadata of every Payload in m.
func collectPayloads(m protoreflect.Message, out *[]string) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		*out = append(*out, string(p.GetData()))
		for k, v := range p.GetMetadata() {
			*out = append(*out, k+"="+string(v))
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					collectPayloads(mv.Message(), out)
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := range v.List().Len() {
					collectPayloads(v.List().Get(i).Message(), out)
				}
			}
		case fd.Message() != nil:
			collectPayloads(v.Message(), out)
		}
		return true
	})
}

// addLogs adds each JSON log line, named by its logger and message.
func (l *leakScan) addLogs(logs string) {
	for i, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry struct {
			Logger string `json:"logger"`
			Msg    string `json:"msg"`
		}
		_ = json.Unmarshal([]byte(line), &entry)
		l.add(fmt.Sprintf("log line %d (%s: %q)", i+1, entry.Logger, entry.Msg), line)
		l.logLines++
	}
}

// scanConfig adds what printing the configuration shows, and the errors of
// the same configuration made invalid around its secrets.
func (l *leakScan) scanConfig(t testing.TB, cfg app.Config) {
	t.Helper()
	l.add("Config.String", cfg.String())
	l.add("%+v of Config", fmt.Sprintf("%+v", cfg))
	l.add("%#v of Config", fmt.Sprintf("%#v", cfg))
	l.add("%+v of the engine section", fmt.Sprintf("%+v", cfg.Engine))
	l.add("config.Redacted", fmt.Sprint(config.Redacted(cfg.AllSections()...)))
	bad := cfg
	bad.Database.URL = strings.Replace(cfg.Database.URL, "postgres://", "mysql://", 1)
	bad.Bridge.URL = strings.Replace(cfg.Bridge.URL, "amqp://", "http://", 1)
	l.add("error of Validate", fmt.Sprint(config.Validate(bad.AllSections()...)))
	env := map[string]string{"DATABASE_URL": bad.Database.URL, "AMQP_URL": bad.Bridge.URL,
		"ENGINE_WEBHOOK_SECRET": cfg.Engine.WebhookSecret, "ENGINE_WORKERS": "none"}
	loaded := app.Defaults()
	l.add("error of Load", fmt.Sprint(config.Load(func(k string) string { return env[k] }, loaded.AllSections()...)))
	l.add("Redacted after Load", fmt.Sprint(config.Redacted(loaded.AllSections()...)))
}

// scanRows adds every row of every table healthd writes: all but clusters,
// which the engine writes with the URLs in it.
func (l *leakScan) scanRows(t testing.TB, ctx context.Context, st *store.Store) {
	t.Helper()
	rows, err := st.Pool().Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'clusters' ORDER BY 1`)
	require.NoError(t, err, "list the tables")
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err, "list the tables")
	require.Contains(t, tables, "health_events")
	for _, table := range tables {
		rows, err := st.Pool().Query(ctx, "SELECT row_to_json(t)::text FROM "+pgx.Identifier{table}.Sanitize()+" t")
		require.NoError(t, err, "read %s", table)
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err, "read %s", table)
		for i, text := range texts {
			l.add(fmt.Sprintf("row %d of table %s", i+1, table), text)
		}
	}
}

// maxReportsPerSecret bounds the places reported for one secret; the rest
// are counted.
const maxReportsPerSecret = 8

// report fails the test naming each place a secret appears in (the first
// maxReportsPerSecret of each), with the text around it, every secret in it
// replaced by its name.
func (l *leakScan) report(t testing.TB) {
	t.Helper()
	names := make([]string, 0, len(l.secrets))
	for name := range l.secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		secret, found := l.secrets[name], 0
		for _, s := range l.texts {
			i := strings.Index(s.text, secret)
			if i < 0 {
				continue
			}
			if found++; found > maxReportsPerSecret {
				continue
			}
			from, to := max(0, i-160), min(len(s.text), i+len(secret)+80)
			excerpt := s.text[from:to]
			for n, v := range l.secrets {
				excerpt = strings.ReplaceAll(excerpt, v, "<"+n+">")
			}
			t.Errorf("%s shows the %s: ...%s...", s.where, name, excerpt)
		}
		if found > maxReportsPerSecret {
			t.Errorf("the %s appears in %d more places", name, found-maxReportsPerSecret)
		}
	}
	if len(l.texts) == 0 {
		t.Error("nothing was searched")
	}
}
