// The review UI in a real browser: Debian's chromium driven by playwright-core, for
// crates/brig/tests/sandbox/review.rs. Environment: REVIEW_URL (the URL `brig review` printed),
// APPROVERS (comma-separated names, one approval each), SHOTS (a directory for screenshots),
// PROFILE (a new, empty browser profile directory).
// Talks to the Rust test on stdout, one line per step: READY (the pending page is open and
// empty: start the command), APPROVED, then DONE {json}. Anything else is a failure.
import { chromium, request } from "playwright-core";

const url = new URL(process.env.REVIEW_URL);
const base = url.origin;
const approvers = process.env.APPROVERS.split(",");
const shots = process.env.SHOTS;
const say = (line) => process.stdout.write(line + "\n");
const expect = (cond, what) => {
  if (!cond) {
    throw new Error("expectation failed: " + what);
  }
};

const context = await chromium.launchPersistentContext(process.env.PROFILE, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  // --no-sandbox: chromium's own sandbox refuses to run as root; the network flags keep it
  // from calling home on a machine with no network.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1200, height: 800 },
});
const page = context.pages()[0] ?? (await context.newPage());
try {
  // The printed URL: the token becomes the cookie, and the address bar loses it.
  const first = await page.goto(url.href);
  expect(first.ok(), "the URL with the token opens the UI");
  expect(!page.url().includes("token="), "the token is dropped from the address: " + page.url());
  const cookies = await context.cookies(base);
  const cookie = cookies.find((c) => c.name === "brig_review");
  expect(cookie && cookie.httpOnly && cookie.sameSite === "Strict", "HttpOnly SameSite=Strict cookie");

  await page.goto(base + "/approvals");
  await page.locator("#none").waitFor();
  say("READY");

  // The page refreshes itself when the request appears.
  const req = page.locator("section.request");
  await req.waitFor({ timeout: 60000 });
  expect((await req.locator("code").first().innerText()).includes("rm -rf build"), "the command is shown");
  expect((await req.innerText()).includes("Destroys"), "what it destroys is shown");
  await page.screenshot({ path: shots + "/review-approvals.png", fullPage: true });
  const csrf = await req.locator("input[name=csrf]").getAttribute("value");

  for (const [i, name] of approvers.entries()) {
    await page.locator("section.request input[name=approver]").fill(name);
    await Promise.all([
      page.waitForURL(base + "/approvals"),
      page.locator("section.request button[value=once]").click(),
    ]);
    const flash = await page.locator("#flash").innerText();
    if (i + 1 < approvers.length) {
      expect(flash.includes(`${i + 1} of ${approvers.length}`), "partial approval: " + flash);
      expect(
        (await page.locator("section.request .approvals").innerText()).includes(name),
        "the approver is listed",
      );
    } else {
      expect(flash.includes("approved"), "approved: " + flash);
    }
  }
  await page.locator("#none").waitFor({ timeout: 30000 });
  say("APPROVED");

  // The sessions list refreshes itself as the session ends.
  await page.goto(base + "/");
  const row = page.locator("tr.session").filter({ hasText: "rm -rf build" }).first();
  await row.filter({ hasText: "exit 0" }).waitFor({ timeout: 60000 });
  expect((await row.innerText()).includes("intact"), "verified intact: " + (await row.innerText()));
  await page.screenshot({ path: shots + "/review-sessions.png", fullPage: true });

  await row.locator("a").first().click();
  await page.locator("#records").waitFor();
  const approvals = await page.locator("tr.record[data-kind=approval]").allInnerTexts();
  expect(approvals.length === approvers.length, "one approval record per approver: " + approvals);
  approvers.forEach((n, i) => expect(approvals[i].includes("approver=" + n), n + " in " + approvals[i]));
  await page.screenshot({ path: shots + "/review-session.png", fullPage: true });
  // The filters.
  await page.selectOption("select[name=type]", "approval");
  await Promise.all([page.waitForURL(/type=approval/), page.click("form.filters button")]);
  const kinds = await page.locator("tr.record").evaluateAll((rows) => rows.map((r) => r.dataset.kind));
  expect(kinds.length === approvers.length && kinds.every((k) => k === "approval"), "filtered: " + kinds);
  // An export downloads.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=JSONL")]);
  expect((await download.suggestedFilename()).endsWith(".jsonl"), "export file name");

  // Without the token: 403.
  const stranger = await request.newContext();
  const refused = await stranger.get(base + "/");
  expect(refused.status() === 403, "no token: " + refused.status());
  // A cross-origin POST, with the cookie and a real CSRF token: 403.
  const evil = await context.request.post(base + "/approvals/answer", {
    headers: { Origin: "http://evil.example" },
    form: { csrf, id: "x", approver: "mallory", answer: "once" },
  });
  expect(evil.status() === 403, "cross-origin POST: " + evil.status());
  say("DONE " + JSON.stringify({ approvals, refused: refused.status(), evil: evil.status() }));
} catch (e) {
  // What the page showed when it went wrong.
  process.stderr.write(`at ${page.url()}:\n${await page.content().catch(() => "?")}\n`);
  throw e;
} finally {
  await context.close();
}
