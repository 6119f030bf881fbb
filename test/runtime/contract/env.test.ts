import { envVar, parseEnv } from '../../../runtime/contract';

const shape = {
  RTC_PORT: envVar.port(8080),
  RTC_REDIS_URL: envVar.redisUrl(),
  RTC_API_SECRET: envVar.secret(),
};

test('defaults apply and empty strings count as unset', () => {
  const r = parseEnv(shape, {
    RTC_PORT: '',
    RTC_REDIS_URL: 'redis://127.0.0.1:6379',
    RTC_API_SECRET: 'x'.repeat(16),
  });
  expect(r).toEqual({
    ok: true,
    config: { RTC_PORT: 8080, RTC_REDIS_URL: 'redis://127.0.0.1:6379', RTC_API_SECRET: 'x'.repeat(16) },
  });
});

test('every problem is listed, each naming its variable', () => {
  const r = parseEnv(shape, { RTC_PORT: '70000', RTC_REDIS_URL: 'http://x', RTC_API_SECRET: 'short' });
  expect(r.ok).toBe(false);
  const problems = r.ok ? [] : r.problems;
  expect(problems).toHaveLength(3);
  expect(problems.join('\n')).toMatch(/RTC_PORT: .*65535/);
  expect(problems.join('\n')).toMatch(/RTC_REDIS_URL: must look like redis:\/\//);
  expect(problems.join('\n')).toMatch(/RTC_API_SECRET: must be at least 16/);
});
