// How numbers, money and times read on the page: won with thousands separators, Korea time.
const number = new Intl.NumberFormat('en-US');
const dateTime = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Seoul', weekday: 'short', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit',
});
const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** 1500 → "1,500 won". */
export const won = (amount) => `${number.format(amount)} won`;
export const count = (n) => number.format(n);
/** An RFC 3339 time as a Korea-time date, e.g. "Sat, 2 January 2027, 19:00 KST". */
export const when = (iso) => `${dateTime.format(new Date(iso))} KST`;
/** The local wall-clock time of a moment, for "last updated". */
export const timeOfDay = (date) => clock.format(date);

/** Milliseconds as "4:05" (minutes and seconds), never negative. */
export function minutesSeconds(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

/** Seconds as words: "about 40 seconds", "about 3 minutes". */
export function aboutSeconds(seconds) {
  if (seconds <= 1) return 'a moment';
  if (seconds < 90) return `about ${seconds} seconds`;
  return `about ${Math.round(seconds / 60)} minutes`;
}
