// The dashboard in Debian's headless Chromium, driven by Playwright's library (no downloaded
// browser). Started by the Rust test `browser::the_dashboard_in_a_real_browser`, which serves
// ftpman and passes: BASE_URL USER PASSWORD SCREENSHOT_DIR.
//
// Checks, as a new user goes: sign-in (a wrong password first); an SFTP site added against the
// real server with its host key compared and pinned, tested; an FTP site added and browsed; a
// local folder; a job with a cron (a bad one refused beside its field), its dry run, disabled
// and enabled, run and followed live to its end; runs and logs filtered; an upload; settings,
// users and a token shown once; sign-out. Throughout: every page's title and labels, a hostile
// file name shown as text (no script runs), and no response referring to another host.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, user, password, shots] = process.argv.slice(2);
// The real servers the sites point at, from the Rust test.
const env = {
  user: process.env.E2E_SERVER_USER, password: process.env.E2E_SERVER_PASSWORD, hostKey: process.env.E2E_HOST_KEY,
  sftpPort: process.env.E2E_SFTP_PORT, sftpRoot: process.env.E2E_SFTP_ROOT,
  ftpPort: process.env.E2E_FTP_PORT, ftpRoot: process.env.E2E_FTP_ROOT, archive: process.env.E2E_ARCHIVE,
};
const origin = new URL(base).origin;
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };

const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "ftpman-chromium-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  viewport: { width: 1280, height: 900 },
  // The dashboard's own default; a light system preference gets the light set.
  colorScheme: process.env.FTPMAN_COLOR_SCHEME || "dark",
});
const page = browser.pages()[0] || (await browser.newPage());

// Every response: no other host in it, and no request to another host at all.
const foreign = [];
page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) foreign.push(r.url()); });
page.on("response", async (r) => {
  const type = r.headers()["content-type"] || "";
  if (!/html|css|javascript/.test(type)) return;
  const body = await r.text().catch(() => "");
  for (const m of body.matchAll(/(?:src|href|url\()\s*=?\s*["']?(https?:)?\/\/([^/"' )]+)/g)) {
    if (m[2] !== new URL(origin).host) foreign.push(`${r.url()} refers to ${m[0]}`);
  }
});
// The pages keep to their content security policy: the browser reports any breach.
const breaches = [];
page.on("console", (m) => { if (/Content Security Policy|Refused to/.test(m.text())) breaches.push(m.text()); });
let alerted = false;
page.on("dialog", async (d) => { if (d.type() === "alert") alerted = true; await d.accept(); });

async function labelled(what) {
  const title = await page.title();
  check(title.length > 0 && title.includes("ftpman"), `${what}: a title (${title})`);
  const unlabelled = await page.$$eval("input:not([type=hidden]), select, textarea", (els) =>
    els.filter((e) => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.closest("label") && !e.getAttribute("aria-label")).map((e) => e.name || e.outerHTML));
  check(unlabelled.length === 0, `${what}: every input has a label (${unlabelled})`);
}

async function shot(name) {
  if (!shots) return;
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: join(shots, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(shots, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

// A stranger is sent to sign in, and brought back after.
await page.goto(`${base}/runs`);
check(page.url().startsWith(`${base}/login`), `sent to sign in (${page.url()})`);
await labelled("sign-in");
await shot("login");
await page.fill("#username", user);
await page.fill("#password", "not the password");
await page.click("button[type=submit]");
check((await page.textContent(".error"))?.includes("wrong user name or password"), "a wrong password is said so");
check((await page.inputValue("#username")) === user, "the user name is kept");
await page.fill("#password", password);
await page.click("button[type=submit]");
await page.waitForURL(`${base}/runs`);

for (const [path, name] of [["/", "dashboard"], ["/sites", "sites"], ["/jobs", "jobs"], ["/runs", "runs"], ["/logs", "logs"]]) {
  await page.goto(`${base}${path}`);
  await labelled(name);
  check((await page.getAttribute(`nav a[href="${new URL(base).pathname.replace(/\/$/, "")}${path}"]`, "aria-current")) === "page", `${name}: marked in the navigation`);
}
const toast = async () => ((await page.$("#toast")) ? (await page.textContent("#toast")) : "") || "";
const submit = async (selector) => Promise.all([page.waitForLoadState("load"), page.click(selector)]);

// An SFTP site against the real server: the unknown host key is shown to compare, then pinned.
await page.goto(`${base}/sites`);
await Promise.all([page.waitForURL(`${base}/sites/new`), page.click("text=Add a site")]);
await labelled("site form");
await page.fill("#name", "partner");
await page.selectOption("#protocol", "sftp");
check(!(await page.isVisible("#cert_fingerprint")), "FTPS fields hidden for SFTP");
await page.fill("#host", "127.0.0.1");
await page.fill("#username", env.user);
await page.fill("#root", env.sftpRoot);
// A port nothing listens on: said on the form, what was typed kept.
await page.fill("#port", "1");
await page.fill("#password", env.password);
await submit("button:has-text('Add site')");
check((await page.textContent("main .error"))?.includes("cannot reach"), `an unreachable server said on the form (${await page.textContent("main")})`);
check((await page.inputValue("#username")) === env.user && (await page.inputValue("#port")) === "1", "the form keeps what was typed");
await page.fill("#port", env.sftpPort);
await page.fill("#password", env.password);
await shot("site-form");
await submit("button:has-text('Add site')");
const offered = ((await page.$("#offered-key")) && (await page.textContent("#offered-key"))) || "";
check(offered === env.hostKey, `the offered host key shown before saving (${offered})`);
check((await page.inputValue("#host_key")) === env.hostKey, "the offered key filled in to pin");
check((await page.inputValue("#password")) === "", "the password is not sent back to the browser");
check((await page.inputValue("#host")) === "127.0.0.1" && (await page.inputValue("#name")) === "partner", "the typed fields kept");
await shot("site-form-host-key");
await page.fill("#password", env.password);
await Promise.all([page.waitForURL(`${base}/sites/partner`), page.click("button:has-text('Add site')")]);
check((await toast()).includes("site partner added"), `a toast says the site was added (${await toast()})`);
check((await page.textContent("main dl"))?.includes(env.hostKey), "the host key pinned");
await labelled("site");
const names = await page.$$eval("tbody td.path", (tds) => tds.map((t) => t.textContent));
check(names.some((n) => n.includes('"><script>alert(1)<!--.csv')), `the folder lists the hostile name as text (${names})`);
check(names.some((n) => n === "invoice\\u{202e}vsc.exe"), `a bidirectional override shown as an escape (${names})`);
await submit("button:has-text('Test connection')");
check((await page.textContent("main"))?.includes("connected and logged in"), "the connection test says it connected");
await shot("site");

// An FTP site, and a remote folder browsed into and out of.
await page.goto(`${base}/sites/new`);
await page.fill("#name", "drop");
await page.selectOption("#protocol", "ftp");
check(await page.isVisible("#mode"), "FTP shows passive/active");
check(!(await page.isVisible("#host_key")), "FTP hides the SSH host key");
await page.fill("#host", "127.0.0.1");
await page.fill("#port", env.ftpPort);
await page.fill("#username", env.user);
await page.fill("#root", env.ftpRoot);
await page.fill("#password", env.password);
await page.fill("#max_connections", "2");
await Promise.all([page.waitForURL(`${base}/sites/drop`), page.click("button:has-text('Add site')")]);
await Promise.all([page.waitForURL(/path=(%2F|\/)reports/), page.click("a:has-text('reports/')")]);
check((await page.textContent("tbody"))?.includes("q4.csv"), "a sub-folder of the FTP site listed");
check((await page.textContent("h2"))?.includes("/reports"), "the folder's path shown");
await Promise.all([page.waitForURL(/\/sites\/drop\?path=(%2F|\/)$/), page.click("a:has-text('..')")]);
await submit("button:has-text('Test connection')");
await page.goto(`${base}/sites`);
check((await page.textContent("tbody"))?.includes("passed"), "the sites list shows the last test");

// A local folder made when the site is added.
await page.goto(`${base}/sites/new`);
await page.fill("#name", "archive");
await page.selectOption("#protocol", "local");
check(!(await page.isVisible("#host")), "a local site hides the server fields");
await page.fill("#root", env.archive);
await page.check("input[name=create]");
await Promise.all([page.waitForURL(`${base}/sites/archive`), page.click("button:has-text('Add site')")]);
await page.goto(`${base}/sites`);
await shot("sites");

// Add a job: a bad cron is refused beside its field and what was typed is kept; the words
// appear as the expression is typed; the job's page shows its schedule in words.
await page.goto(`${base}/jobs/new`);
await labelled("job form");
await page.fill("#name", "nightly");
await page.fill("#from", "partner:/");
await page.fill("#to", "archive:/in");
await page.fill("#bwlimit", "1M");
await page.fill("#window", "yesterday");
await submit("button:has-text('Add job')");
check((await page.textContent("#window-error"))?.includes("previous-day"), "a bad date window is refused beside its field, saying what would be right");
check((await page.inputValue("#window")) === "yesterday", "the typed window is kept");
await page.fill("#window", "");
await page.fill("#schedule", "61 * * * *");
await submit("button:has-text('Add job')");
check((await page.textContent("#schedule-error"))?.includes("61 * * * *"), "the bad cron's error beside its field");
check((await page.inputValue("#schedule")) === "61 * * * *", "the typed cron is kept");
check((await page.inputValue("#name")) === "nightly" && (await page.inputValue("#to")) === "archive:/in", "the other fields are kept");
await shot("job-form-error");
await page.fill("#schedule", "");
await page.type("#schedule", "0 3 * * *");
await page.waitForFunction(() => /03:00 every day/.test(document.getElementById("schedule-words").textContent), null, { timeout: 10000 });
check(true, "words as the cron is typed");
await Promise.all([page.waitForURL(`${base}/jobs/nightly`), page.click("button:has-text('Add job')")]);
await labelled("job");
check((await page.textContent("#job-schedule"))?.includes("at 03:00 every day"), "the job's page says when in words");
check((await toast()).includes("job nightly added"), "a toast says the job was added");

// A dry run lists what would move and moves nothing.
await Promise.all([page.waitForURL(/\/runs\/\d+$/), page.click("button:has-text('Dry run')")]);
await page.waitForFunction(() => /would move 5 files/.test(document.getElementById("dry-run")?.textContent || ""), null, { timeout: 60000 }).catch(() => {});
check((await page.textContent("#dry-run"))?.includes("would move 5 files"), `the dry run says what would move (${await page.textContent("#dry-run")})`);
check((await page.$$eval("#files .pill", (p) => p.map((x) => x.textContent))).every((t) => t === "would-transfer"), "each file marked as would move");
await shot("dry-run");

// Disable and enable again.
await page.goto(`${base}/jobs/nightly`);
await submit("button:has-text('Disable')");
check((await toast()).includes("disabled") && (await page.textContent("h1 + .pill, .row .pill"))?.includes("disabled"), "the job disabled");
await submit("button:has-text('Enable')");
check((await toast()).includes("enabled"), "the job enabled again");

// Run now, and watch it end on the run's page.
await Promise.all([page.waitForURL(/\/runs\/\d+$/), page.click("button:has-text('Run now')")]);
await page.waitForSelector("#moving .bar, #status .pill.succeeded", { timeout: 30000 });
const sawProgress = (await page.$("#moving .bar")) !== null;
check(sawProgress, "live progress bars while the run goes");
await shot("run-live");
await page.waitForSelector("#status .pill.succeeded", { timeout: 60000 });
await page.waitForLoadState("load");
check((await page.textContent("#transferred"))?.trim() === "5", `every file transferred (${await page.textContent("#transferred")})`);
const hostile = await page.$$eval("#files td.path", (tds) => tds.map((t) => t.textContent));
check(hostile.some((t) => t.includes('"><script>alert(1)<!--.csv')), `the hostile name shown as text (${hostile})`);
check((await page.$$("#files script")).length === 0, "no script element made from a file name");
await shot("run");
await page.goto(`${base}/jobs/nightly`);
check((await page.textContent("table"))?.includes("dry run"), "the job's history marks the dry run");
await shot("job");
await page.goto(`${base}/jobs`);
check((await page.textContent("tbody"))?.includes("at 03:00 every day"), "the list says the schedule in words");
check((await page.$$("tbody .tick.succeeded")).length >= 2, "the list's bar shows the last runs");

// The run in the list; the job in the logs, by component, job and time.
await page.goto(`${base}/runs?job=nightly&status=succeeded&since=1h`);
check((await page.$$("tbody tr")).length === 2, "the dry run and the run in the filtered list");
await shot("runs");
await page.goto(`${base}/logs?component=audit&job=nightly&since=1h`);
check((await page.textContent("tbody"))?.includes("job 'nightly' added"), "the job in the logs");
await shot("logs");
await page.goto(`${base}/logs?since=yesterday-ish`);
check((await page.textContent("main .error"))?.includes("since"), "a bad time filter is said so");

// A group (made over the API, as a program would), listed on the jobs page and run from there.
const made = await page.evaluate(async (base) => {
  const csrf = document.querySelector("input[name=csrf]").value;
  const r = await fetch(`${base}/api/v1/groups`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: JSON.stringify({ name: "nightly-bundle", jobs: ["nightly"], schedule: "30 3 * * *" }),
  });
  return r.status;
}, base);
check(made === 201, `a group added over the API (${made})`);
await page.goto(`${base}/jobs`);
check((await page.textContent("#groups"))?.includes("nightly-bundle"), "the jobs page lists the group");
await shot("jobs");
await Promise.all([page.waitForURL(`${base}/jobs`), page.click("#groups button:has-text('Run now')")]);
check((await toast()).includes("group nightly-bundle: run"), `a toast says the group run started (${await toast()})`);
await page.goto(`${base}/groups/nightly-bundle`);
await labelled("group");
check((await page.textContent("#group-jobs"))?.includes("nightly"), "the group's page lists its jobs");
await page.waitForFunction(() => /nightly/.test(document.getElementById("group-runs")?.textContent || ""), null, { timeout: 5000 }).catch(() => {});
if (!(await page.$("#group-runs"))) await page.reload();
check((await page.textContent("#group-runs"))?.includes("nightly"), "the group's run with its job's run");
await shot("group");

// Upload a file into a site's folder, with progress.
await page.goto(`${base}/upload`);
await labelled("upload");
await page.selectOption("#site", "archive");
await page.fill("#path", "/uploads");
await page.setInputFiles("#file", { name: "hello.txt", mimeType: "text/plain", buffer: Buffer.from("hello from the browser\n") });
await page.click("button:has-text('Upload')");
await page.waitForSelector(".notice", { timeout: 20000 });
check((await page.textContent(".notice"))?.includes("hello.txt"), "the upload is reported");
await shot("upload");

// Change a setting; a refused value is said beside it; a secret is never sent back.
await page.goto(`${base}/settings`);
await labelled("settings");
await page.fill('input[id="v-retention.days"]', "30");
await submit('form[action$="/settings/retention.days"] button');
check((await toast()).includes("retention.days saved"), "a setting saved");
check((await page.inputValue('input[id="v-retention.days"]')) === "30", "the saved value shown");
await page.fill('input[id="v-smtp.port"]', "lots");
await submit('form[action$="/settings/smtp.port"] button');
check((await page.textContent("main .error"))?.includes("smtp.port"), "a bad port refused beside its field");
check((await page.inputValue('input[id="v-smtp.port"]')) === "lots", "the refused value kept to correct");
await page.fill('input[id="v-smtp.password"]', "a secret smtp password");
await submit('form[action$="/settings/smtp.password"] button');
check(!(await page.content()).includes("a secret smtp password"), "a stored secret never reaches the page");
check((await page.getAttribute('input[id="v-smtp.password"]', "placeholder"))?.includes("set"), "the secret shows as set");

// Users and roles; a token shown once, then revoked.
await page.fill("#new-user", "olive");
await page.selectOption("#new-role", "operator");
await page.fill("#new-password", "short");
await submit("button:has-text('Add user')");
check((await page.textContent("#users .error"))?.includes("12 characters"), "a short password refused beside the form");
await page.selectOption("#new-role", "operator");
await page.fill("#new-password", "olive-long-password-1");
await submit("button:has-text('Add user')");
check((await toast()).includes("user olive added as operator"), "a user added");
await page.selectOption("#role-olive", "viewer");
await submit('form[action$="/settings/users/olive"] button');
check((await toast()).includes("role viewer"), "a role changed");
await page.fill("#token-name", "report script");
await page.selectOption("#token-role", "viewer");
await submit("button:has-text('Make token')");
const secret = await page.inputValue("#token-secret");
check(secret.startsWith("ftpman_") && secret.length > 20, "the new token's secret shown");
await shot("settings-token");
await page.goto(`${base}/settings`);
check(!(await page.content()).includes(secret), "the token's secret is shown once only");
check((await page.textContent("#tokens"))?.includes("report script"), "the token listed");
await submit('#tokens tr:has-text("report script") button:has-text("Revoke")');
check((await toast()).includes("revoked"), "the token revoked");
await shot("settings");

// The dashboard, with the runs this test made.
await page.goto(`${base}/`);
check(await page.$$eval(".chart title", (ts) => ts.some((t) => /[1-9]\d* succeeded/.test(t.textContent))), "the runs chart shows today's runs");
check((await page.textContent(".stats"))?.includes("runs today"), "the totals");
await shot("dashboard");

// Sign out: the session ends.
await page.goto(`${base}/`);
await Promise.all([page.waitForURL(/\/login/), page.click("text=Sign out")]);
await page.goto(`${base}/`);
check(page.url().includes("/login"), "signed out");

check(!alerted, "no script from a file name ran");
check(breaches.length === 0, `no breach of the content security policy: ${breaches.join(" | ")}`);
check(foreign.length === 0, `nothing from another host: ${foreign.join(", ")}`);
await browser.close();
if (failures.length) {
  console.error("FAILED:\n  " + failures.join("\n  "));
  process.exit(1);
}
console.log("browser checks passed");
