// The dashboard in Debian's headless Chromium, driven by Playwright's library (no downloaded
// browser). Started by the Rust test `browser::the_dashboard_in_a_real_browser`, which serves
// ftpman and passes: BASE_URL USER PASSWORD SCREENSHOT_DIR.
//
// Checks: sign-in (a wrong password first), every page's title and labels, a run started with
// "Run now" followed live to its end, a hostile file name shown as text (no script runs), that no
// response refers to another host, and sign-out.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, user, password, shots] = process.argv.slice(2);
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
  await shot(name);
}

// A site: its folder, with the hostile name shown as text, and a connection test.
await page.goto(`${base}/sites/partner`);
await labelled("site");
const names = await page.$$eval("tbody td.path", (tds) => tds.map((t) => t.textContent));
check(names.some((n) => n.includes('"><script>alert(1)<!--.csv')), `the folder lists the hostile name as text (${names})`);
await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Test connection')")]);
check((await page.textContent("main"))?.includes("connected"), "the connection test says it connected");
await shot("site");

// Run now, and watch it end on the run's page.
await page.goto(`${base}/jobs`);
check((await page.textContent("tbody"))?.includes("at 03:00 every day"), "the schedule in words");
await Promise.all([page.waitForURL(/\/runs\/\d+$/), page.click("tbody tr:first-child button:has-text('Run now')")]);
await page.waitForSelector("#moving .bar, #status .pill.succeeded", { timeout: 30000 });
const sawProgress = (await page.$("#moving .bar")) !== null;
check(sawProgress, "live progress bars while the run goes");
await shot("run-live");
await page.waitForSelector("#status .pill.succeeded", { timeout: 60000 });
await page.waitForLoadState("load");
check((await page.textContent("#transferred"))?.trim() === "4", `every file transferred (${await page.textContent("#transferred")})`);
const hostile = await page.$$eval("#files td.path", (tds) => tds.map((t) => t.textContent));
check(hostile.some((t) => t.includes('"><script>alert(1)<!--.csv')), `the hostile name shown as text (${hostile})`);
check((await page.$$("#files script")).length === 0, "no script element made from a file name");
await shot("run");

// Add a job: a bad cron is refused beside its field and what was typed is kept; the words
// appear as the expression is typed; the job is listed with its schedule in words.
await page.goto(`${base}/jobs/new`);
await labelled("job form");
await page.fill("#name", "hourly-pull");
await page.fill("#from", "partner:/");
await page.fill("#to", "archive:/hourly/{yyyy}");
await page.fill("#schedule", "61 * * * *");
await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Add job')")]);
check((await page.textContent("#schedule-error"))?.includes("61 * * * *"), "the bad cron's error beside its field");
check((await page.inputValue("#schedule")) === "61 * * * *", "the typed cron is kept");
check((await page.inputValue("#name")) === "hourly-pull" && (await page.inputValue("#to")) === "archive:/hourly/{yyyy}", "the other fields are kept");
await shot("job-form-error");
await page.fill("#schedule", "");
await page.type("#schedule", "*/15 * * * *");
await page.waitForFunction(() => /15 minutes/.test(document.getElementById("schedule-words").textContent), null, { timeout: 10000 });
check(true, "words as the cron is typed");
await Promise.all([page.waitForURL(`${base}/jobs`), page.click("button:has-text('Add job')")]);
check((await page.textContent("tbody"))?.includes("every 15 minutes"), "the new job with its schedule in words");
await shot("jobs-after-add");

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
await Promise.all([page.waitForLoadState("load"), page.click('form[action$="/settings/retention.days"] button')]);
check((await page.textContent(".notice"))?.includes("retention.days saved"), "a setting saved");
check((await page.inputValue('input[id="v-retention.days"]')) === "30", "the saved value shown");
await page.fill('input[id="v-smtp.port"]', "lots");
await Promise.all([page.waitForLoadState("load"), page.click('form[action$="/settings/smtp.port"] button')]);
check((await page.textContent("main .error"))?.includes("smtp.port"), "a bad port refused beside its field");
await page.fill('input[id="v-smtp.password"]', "a secret smtp password");
await Promise.all([page.waitForLoadState("load"), page.click('form[action$="/settings/smtp.password"] button')]);
check(!(await page.content()).includes("a secret smtp password"), "a stored secret never reaches the page");
check((await page.getAttribute('input[id="v-smtp.password"]', "placeholder"))?.includes("set"), "the secret shows as set");
await shot("settings");

// The run is in the list, and the job in the audit trail.
await page.goto(`${base}/runs`);
check((await page.textContent("tbody"))?.includes("succeeded"), "the run in the list");
await page.goto(`${base}/logs?component=audit&job=nightly`);
check((await page.textContent("tbody"))?.includes("job 'nightly' added"), "the job in the logs");

// Sign out: the session ends.
await page.goto(`${base}/`);
await Promise.all([page.waitForURL(/\/login/), page.click("text=Sign out")]);
await page.goto(`${base}/`);
check(page.url().includes("/login"), "signed out");

check(!alerted, "no script from a file name ran");
check(foreign.length === 0, `nothing from another host: ${foreign.join(", ")}`);
await browser.close();
if (failures.length) {
  console.error("FAILED:\n  " + failures.join("\n  "));
  process.exit(1);
}
console.log("browser checks passed");
