export const password = 'pässwörd 1';

/** Written by `doveadm pw -s SCHEME -p 'pässwörd 1'`: hashes from the system that makes them. */
export const dovecot: Record<string, string> = {
  'SHA512-CRYPT':
    '{SHA512-CRYPT}$6$1SWV.KgRcU8ptd8n$EIzWjZ1wa6xc37IZW2ftye0S9REpQY6c/g5nKRTmZZH0sdUBRZoGUrQlG/M7YLurpaWNrUXUcyRa35f0GygtX.',
  'SHA256-CRYPT': '{SHA256-CRYPT}$5$SXAUPBDwkUzE7o7p$xh1W.RbvJKsBwVC5hiazAKyCkHa5j7xvojf58LQaxI1',
  'BLF-CRYPT': '{BLF-CRYPT}$2y$05$yNMmCq1BeU/pJNbI0zaSCevVNzub5.XYglH7X08mohiv.lqD4SXWq',
  ARGON2ID:
    '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$KKX9D6hqIu9dX0tufGejrQ$7WnBVhGsh0ve5Rd+ZAbdZlfqXt6/HKo0QzNGp0jp+VA',
  ARGON2I:
    '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$41mYJt44M8XrUz71oQFKMQ$fZEsi5kXpO58cu/T/jeHvqM0P+Q3cG+d5D7CWyRQtqQ',
  SSHA512:
    '{SSHA512}VkyCTiJiGHjoslu2aO61wqGa8Ut66dc5CQaqWroFabiU64oRRWJD9BdnD47YKYWvZQsgZhujSF2Q7+JzkYJ6yE1h0xk=',
  SSHA256: '{SSHA256}8cTpjS5jsLO/bagHuC0qq+vfJ3/J0XSJ1IPu7qOpLBaxDqdX',
  SSHA: '{SSHA}0CF+QHfySGkM7Pad0iB9gEFdiBwxJrz0',
  SHA512:
    '{SHA512}MGrCWX/OaIyw5xBZ0RrM2vwe1YHoo2MD/NKt2+vkfLiudEOMnHxXTsVXCSooO5eehIdUJFylnTmr3TTyK23wMw==',
  SHA256: '{SHA256}UODX5JZHe18JVwv9yvMbAoeS719Y7fwn28vMuM/OHRU=',
  PLAIN: `{PLAIN}${password}`,
};
