/* SPDX-License-Identifier: MIT */
/* test_privacy.c -- the PII detector and redactor: each class's formats and
 * the look-alikes it must leave alone, the validators on their own, overlaps,
 * configured patterns and deny lists, placeholder numbering, restoring whole
 * and streamed at every split, request bodies, allocation failures, hostile
 * and broken input, and many threads sharing one detector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "privacy/privacy.h"
#include "privacy/privacy_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"

static hr_pii *builtin(void)
{
    hr_pii *d = NULL;
    char err[256];
    assert_int_equal(hr_pii_new(&d, NULL, err, sizeof err), 0);
    return d;
}

/* The findings of text as "class:value|class:value". */
static void findings_str(const hr_pii *d, const char *text, char *out, size_t outlen)
{
    hr_pii_findings f = {0};
    assert_int_equal(hr_pii_scan(d, text, strlen(text), &f), 0);
    hr_buf b = {0};
    for (size_t i = 0; i < f.n; i++) {
        assert_true(i == 0 || f.v[i].start >= f.v[i - 1].end);
        hr_buf_printf(&b, "%s%s:%.*s", i ? "|" : "", hr_pii_class_name(d, f.v[i].cls),
                      (int)(f.v[i].end - f.v[i].start), text + f.v[i].start);
    }
    snprintf(out, outlen, "%s", b.p ? b.p : "");
    hr_buf_deinit(&b);
    hr_pii_findings_deinit(&f);
}

static const char PEM[] = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyu\n"
                          "vBjM2wIDAQABAoIBAFx9sE3sQ9f/3xg+\n-----END RSA PRIVATE KEY-----";

static void test_positives(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"Write to john.smith@example.com today", "email:john.smith@example.com"},
        {"Jane <jane_doe+news@mail.co.uk>", "email:jane_doe+news@mail.co.uk"},
        {"Email me at bob@example.com.", "email:bob@example.com"},
        {"mailto:X.Y@SUB.EXAMPLE.ORG", "email:X.Y@SUB.EXAMPLE.ORG"},
        {"dial +14155552671 now", "phone:+14155552671"},
        {"London +44 20 7946 0958.", "phone:+44 20 7946 0958"},
        {"Office (415) 555-2671", "phone:(415) 555-2671"},
        {"Call 415-555-2671", "phone:415-555-2671"},
        {"Call 415.555.2671", "phone:415.555.2671"},
        {"UK 020 7946 0958", "phone:020 7946 0958"},
        {"US +1 (415) 555-2671", "phone:+1 (415) 555-2671"},
        {"phone: 4155552671", "phone:4155552671"},
        {"FR 06 12 34 56 78", "phone:06 12 34 56 78"},
        {"FR (+33) 6 12 34 56 78", "phone:(+33) 6 12 34 56 78"},
        {"DE 0049 30 12345678", "phone:0049 30 12345678"},
        {"card 4111 1111 1111 1111", "card:4111 1111 1111 1111"},
        {"card 4111-1111-1111-1111 exp 12/25", "card:4111-1111-1111-1111"},
        {"pan=4111111111111111", "card:4111111111111111"},
        {"amex 378282246310005", "card:378282246310005"},
        {"amex 3782 822463 10005", "card:3782 822463 10005"},
        {"mc 5555555555554444 and 2223003122003222", "card:5555555555554444|card:2223003122003222"},
        {"discover 6011000990139424", "card:6011000990139424"},
        {"jcb 3530111333300000, diners 36227206271667",
         "card:3530111333300000|card:36227206271667"},
        {"IBAN GB82 WEST 1234 5698 7654 32.", "iban:GB82 WEST 1234 5698 7654 32"},
        {"IBAN:DE89370400440532013000", "iban:DE89370400440532013000"},
        {"NO9386011117947 and BE68539007547034 1234", "iban:NO9386011117947|iban:BE68539007547034"},
        {"FR1420041010050500013M02606", "iban:FR1420041010050500013M02606"},
        {"CH93 0076 2011 6238 5295 7", "iban:CH93 0076 2011 6238 5295 7"},
        {"ssn 123-45-6789.", "ssn:123-45-6789"},
        {"SSN: 123456789", "ssn:123456789"},
        {"Social Security Number 432 12 9876", "ssn:432 12 9876"},
        {"from 192.168.1.1 port 22", "ipv4:192.168.1.1"},
        {"listen 10.0.0.1:8080 and 0.0.0.0", "ipv4:10.0.0.1|ipv4:0.0.0.0"},
        {"mask 255.255.255.255/32", "ipv4:255.255.255.255"},
        {"v6 2001:db8::8a2e:370:7334", "ipv6:2001:db8::8a2e:370:7334"},
        {"host fe80::1.", "ipv6:fe80::1"},
        {"mapped ::ffff:192.168.1.1", "ipv6:::ffff:192.168.1.1"},
        {"2001:0db8:85a3:0000:0000:8a2e:0370:7334", "ipv6:2001:0db8:85a3:0000:0000:8a2e:0370:7334"},
        {"[2001:db8::1]:443 and ::1", "ipv6:2001:db8::1|ipv6:::1"},
        {"DOB: 1985-03-12", "dob:1985-03-12"},
        {"date of birth 03/12/1985", "dob:03/12/1985"},
        {"I was born on 12 March 1985.", "dob:12 March 1985"},
        {"Birthday: March 12, 1985", "dob:March 12, 1985"},
        {"D.O.B. 5/7/88", "dob:5/7/88"},
        {"birth date: 02-Jan-1987", "dob:02-Jan-1987"},
        {"born 14th of February, 1990", "dob:14th of February, 1990"},
        {"key AKIAQ3EGRTYUIOPASDFG", "secret:AKIAQ3EGRTYUIOPASDFG"},
        {"Authorization: Bearer abcDEF123456ghi", "secret:abcDEF123456ghi"},
        {"api_key=sk_live_abcdef1234567890abcd", "secret:sk_live_abcdef1234567890abcd"},
        {"apikey: 'Xy12Ab34Cd56'", "secret:Xy12Ab34Cd56"},
        {"secret=hunter22 password=hunter2", "secret:hunter22|secret:hunter2"},
        {"{\"password\": \"s3cr3t!\"}", "secret:s3cr3t!"},
        {"OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstu12345",
         "secret:sk-proj-abcdefghijklmnopqrstu12345"},
        {"?token=ab12cd34ef56&user=42", "secret:ab12cd34ef56"},
        {"DB_PASSWORD=Tr0ub4dor&3", "secret:Tr0ub4dor&3"},
        {"t eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl.",
         "secret:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"},
        {"gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
         "secret:ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
    };
    hr_pii *d = builtin();
    char got[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        findings_str(d, cases[i].text, got, sizeof got);
        if (strcmp(got, cases[i].want) != 0) {
            fail_msg("'%s': got '%s', want '%s'", cases[i].text, got, cases[i].want);
        }
    }
    char pem[512];
    snprintf(pem, sizeof pem, "key:\n%s\n\nthanks", PEM);
    findings_str(d, pem, got, sizeof got);
    assert_true(strncmp(got, "secret:", 7) == 0 && strcmp(got + 7, PEM) == 0);
    /* Cut short: the block runs to the end of its body. */
    int body = (int)(strstr(PEM, "-----END") - PEM);
    snprintf(pem, sizeof pem, "%.*s\n", body, PEM);
    findings_str(d, pem, got, sizeof got);
    assert_int_equal(strlen(got + 7), body - 1);
    assert_memory_equal(got + 7, PEM, body - 1);
    hr_pii_free(d);
}

static void test_negatives(void **state)
{
    static const char *const cases[] = {
        "Use logo@2x.png and npm i lodash@4.17.21; ssh user@localhost; meet @ 5pm",
        "Order #415-555-2671, SKU 123-456-7890, Order 4155552671",
        "at 2023-10-12 14:30:00 (ts 1697040000), build 20231012.1430",
        "version 10.4.3.2100, population 1 234 567 890, $1,234,567,890",
        "ISBN 978-0-306-40615-7 and 9780306406157; UPS 1Z 999 AA1 01 2345 6784",
        "Luhn fails: 4111 1111 1111 1112; USPS 9400 1118 9922 3100 0000 00",
        "IMEI 490154203237518; order number 4000 1234 5678 9010; 1234 5678 9012 3456",
        "masked 4111 **** **** 1111; tracking #: 4111111111111111",
        "IBAN DE89370400440532013001 (bad check), GB82 WEST 1234 5698 7654 3 (short)",
        "VAT DE123456789, BIC DEUTDEFF500, parts AB12 CD34 EF56 GH78",
        "000-12-3456 666-12-3456 901-12-3456 123-00-4567 123-45-0000",
        "zip 94103-1234 and part no. 123-45-6789 and 555-1234",
        "1.2.3.4.5, 256.1.1.1, version 1.2.3.4, 01.02.03.04, OID 1.3.6.1.4.1.311",
        "section 4.2.1.3, pi 3.14159, on 12.03.2024",
        "10:30:45, 00:1A:2B:3C:4D:5E, std::vector, Foo::Bar, 16:9, John 3:16, ::",
        "2023-10-12T10:30:00Z dead:beef",
        "meeting on 1985-03-12; born in 1985; Born to Run 1975; DOB: 31/02/1990",
        "Date of issue: 2015-06-01; birthday party on 2024-07-14",
        "password=<your password> api_key=YOUR_API_KEY token=${TOKEN} password: ********",
        "Enter your password: ; Token: required; token_type: bearer; password = None",
        "The bearer of this letter; bearer token authentication; secret=os.environ",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8, id 550e8400-e29b-41d4-a716-446655440000",
        "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "max_tokens=256, tokens: 1500, Password must be 8 characters",
    };
    hr_pii *d = builtin();
    char got[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        findings_str(d, cases[i], got, sizeof got);
        if (got[0]) {
            fail_msg("'%s': found '%s'", cases[i], got);
        }
    }
    hr_pii_free(d);
}

static void test_validators(void **state)
{
    assert_true(hr__pii_luhn("4111111111111111", 16));
    assert_true(hr__pii_luhn("79927398713", 11));
    assert_false(hr__pii_luhn("79927398710", 11));
    assert_false(hr__pii_luhn("4111111111111112", 16));
    assert_false(hr__pii_luhn("41111a1111111111", 16));
    assert_false(hr__pii_luhn("0", 1));
    assert_true(hr__pii_iban_ok("GB82WEST12345698765432", 22));
    assert_true(hr__pii_iban_ok("GB82 WEST 1234 5698 7654 32", 27));
    assert_true(hr__pii_iban_ok("NO9386011117947", 15));
    assert_true(hr__pii_iban_ok("LC55HEMM000100010012001200023015", 32));
    assert_false(hr__pii_iban_ok("GB83WEST12345698765432", 22)); /* check digits */
    assert_false(hr__pii_iban_ok("GB82WEST1234569876543", 21));  /* length */
    assert_false(hr__pii_iban_ok("QQ82WEST12345698765432", 22)); /* country */
    assert_false(hr__pii_iban_ok("gb82west12345698765432", 22)); /* case */
    assert_false(hr__pii_iban_ok("", 0));
    static const struct {
        const char *ssn;
        bool ok;
    } ssn[] = {
        {"123-45-6789", true},  {"001-01-0001", true},  {"899-99-9999", true},
        {"665-12-3456", true},  {"000-12-3456", false}, {"666-12-3456", false},
        {"900-12-3456", false}, {"999-12-3456", false}, {"123-00-4567", false},
        {"123-45-0000", false}, {"123456789", true},    {"12345678", false},
        {"1234567890", false},  {"123-45-678a", false},
    };
    for (size_t i = 0; i < sizeof ssn / sizeof ssn[0]; i++) {
        if (hr__pii_ssn_ok(ssn[i].ssn, strlen(ssn[i].ssn)) != ssn[i].ok) {
            fail_msg("ssn %s", ssn[i].ssn);
        }
    }
}

static void test_classes_and_config(void **state)
{
    assert_string_equal(hr_pii_class_name(NULL, HR_PII_EMAIL), "email");
    assert_string_equal(hr_pii_class_name(NULL, HR_PII_SECRET), "secret");
    assert_null(hr_pii_class_name(NULL, HR_PII_N_BUILTIN));
    assert_null(hr_pii_class_name(NULL, -1));
    assert_int_equal(hr_pii_class_find(NULL, "IPv6"), HR_PII_IPV6);
    assert_int_equal(hr_pii_class_find(NULL, "project"), -1);
    assert_int_equal(hr_pii_class_find(NULL, NULL), -1);

    const char *people[] = {"John  Smith", "Ana"}, *code[] = {"Falcon"};
    hr_pii_pattern pats[] = {{"employee", "\\bE\\d{6}\\b"}, {"Project", "\\bPRJ-\\d+"}};
    hr_pii_deny deny[] = {{"person", people, 2}, {"project", code, 1}};
    hr_pii_config cfg = {pats, 2, deny, 2};
    hr_pii *d = NULL;
    char err[256];
    assert_int_equal(hr_pii_new(&d, &cfg, err, sizeof err), 0);
    assert_int_equal(hr_pii_n_classes(d), HR_PII_N_BUILTIN + 3);
    int proj = hr_pii_class_find(d, "PROJECT");
    assert_int_equal(proj, HR_PII_N_BUILTIN + 1);
    assert_string_equal(hr_pii_class_name(d, proj), "Project");
    char ph[16];
    assert_int_equal(hr_pii_placeholder(d, proj, 12, ph, sizeof ph), 12);
    assert_string_equal(ph, "<PROJECT_12>");
    assert_int_equal(hr_pii_placeholder(d, proj, 12, ph, 12), HR_ETOOBIG);
    assert_int_equal(hr_pii_placeholder(d, proj, 0, ph, sizeof ph), HR_EINVAL);
    assert_int_equal(hr_pii_placeholder(d, 63, 1, ph, sizeof ph), HR_EINVAL);
    char got[256];
    findings_str(d, "JOHN\n  smith met ana (not Anastasia) on PRJ-7 falcon, E123456", got,
                 sizeof got);
    assert_string_equal(got, "person:JOHN\n  smith|person:ana|Project:PRJ-7|Project:falcon|"
                             "employee:E123456");
    findings_str(d, "johnsmith, Ana_b, xAna, Falcons", got, sizeof got);
    assert_string_equal(got, "");
    hr_pii_free(d);

    static const struct {
        hr_pii_pattern p;
        const char *msg;
    } bad[] = {
        {{"x", "(unclosed"}, "privacy pattern 'x': bad regex at offset 9"},
        {{"x", ""}, "privacy pattern 'x': empty regex"},
        {{"9lives", "a"}, "privacy pattern '9lives': a class name is"},
        {{"with-dash", "a"}, "privacy pattern 'with-dash'"},
        {{NULL, "a"}, "privacy pattern '': a class name"},
        {{"abcdefghijabcdefghijabcdefghijabc", "a"}, "at most 32"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hr_pii_config c = {&bad[i].p, 1, NULL, 0};
        assert_int_equal(hr_pii_new(&d, &c, err, sizeof err), HR_EINVAL);
        assert_null(d);
        assert_non_null(strstr(err, bad[i].msg));
        assert_null(strchr(err, '\n'));
    }
    const char *empty[] = {"ok", "  "};
    hr_pii_deny dl = {"names", empty, 2};
    hr_pii_config c = {NULL, 0, &dl, 1};
    assert_int_equal(hr_pii_new(&d, &c, err, sizeof err), HR_EINVAL);
    assert_string_equal(err, "privacy deny list 'names': word 2 is empty");
    static hr_pii_pattern many[HR_PII_MAX_CLASSES];
    static char names[HR_PII_MAX_CLASSES][8];
    for (int i = 0; i < HR_PII_MAX_CLASSES; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        many[i] = (hr_pii_pattern){names[i], "zz"};
    }
    c = (hr_pii_config){many, HR_PII_MAX_CLASSES - HR_PII_N_BUILTIN, NULL, 0};
    assert_int_equal(hr_pii_new(&d, &c, err, sizeof err), 0);
    hr_pii_free(d);
    c.n_patterns++;
    assert_int_equal(hr_pii_new(&d, &c, err, sizeof err), HR_EINVAL);
    assert_non_null(strstr(err, "more than 64 classes"));
}

static void test_overlaps(void **state)
{
    const char *names[] = {"john", "acme"};
    hr_pii_deny dl = {"person", names, 2};
    hr_pii_pattern pat = {"internal_ip", "10\\.\\d+\\.\\d+\\.\\d+"};
    hr_pii_config cfg = {&pat, 1, &dl, 1};
    hr_pii *d = NULL;
    char err[256], got[256];
    assert_int_equal(hr_pii_new(&d, &cfg, err, sizeof err), 0);
    /* Longest wins; on a tie the configured class wins. */
    findings_str(d, "mail john.smith@example.com from 10.1.2.3 or 192.168.0.1", got, sizeof got);
    assert_string_equal(got, "email:john.smith@example.com|internal_ip:10.1.2.3|"
                             "ipv4:192.168.0.1");
    findings_str(d, "password=4111111111111111", got, sizeof got);
    assert_string_equal(got, "card:4111111111111111");
    findings_str(d, "api_key=john", got, sizeof got);
    assert_string_equal(got, "person:john");
    hr_pii_free(d);
}

static void test_redact_numbering(void **state)
{
    hr_pii *d = builtin();
    hr_pii_redactor *r = NULL;
    assert_int_equal(hr_pii_redactor_new(&r, d, HR_PII_ALL), 0);
    const char *a = "a@example.com, b@example.com, a@example.com, call +14155552671";
    hr_buf out = {0};
    hr_pii_findings f = {0};
    assert_int_equal(hr_pii_redact(r, a, strlen(a), &out, &f), 0);
    assert_string_equal(out.p, "<EMAIL_1>, <EMAIL_2>, <EMAIL_1>, call <PHONE_1>");
    assert_int_equal(f.n, 4);
    assert_int_equal(f.v[2].num, 1);
    assert_int_equal(f.v[2].start, 30);
    assert_int_equal(f.v[3].cls, HR_PII_PHONE);
    /* The numbering carries on across calls within one redactor. */
    hr_buf_reset(&out);
    const char *b = "c@example.com then b@example.com";
    assert_int_equal(hr_pii_redact(r, b, strlen(b), &out, NULL), 0);
    assert_string_equal(out.p, "<EMAIL_3> then <EMAIL_2>");
    const hr_pii_counts *c = hr_pii_redactor_counts(r);
    assert_int_equal(c->n[HR_PII_EMAIL], 5);
    assert_int_equal(c->n[HR_PII_PHONE], 1);
    assert_int_equal(hr_pii_counts_total(c), 6);
    hr_pii_redactor_free(r);

    /* Only the classes in the mask are replaced; all are reported. */
    assert_int_equal(hr_pii_redactor_new(&r, d, HR_PII_BIT(HR_PII_PHONE)), 0);
    hr_buf_reset(&out);
    f.n = 0;
    assert_int_equal(hr_pii_redact(r, a, strlen(a), &out, &f), 0);
    assert_string_equal(out.p, "a@example.com, b@example.com, a@example.com, call <PHONE_1>");
    assert_int_equal(f.n, 4);
    assert_int_equal(f.v[0].num, 0);
    assert_int_equal(hr_pii_redactor_counts(r)->n[HR_PII_EMAIL], 3);
    hr_pii_counts cnt = {0};
    assert_int_equal(hr_pii_count(d, a, strlen(a), &cnt), 0);
    assert_int_equal(cnt.n[HR_PII_EMAIL], 3);
    assert_int_equal(hr_pii_counts_total(&cnt), 4);
    hr_pii_redactor_free(r);
    hr_pii_findings_deinit(&f);
    hr_buf_deinit(&out);
    hr_pii_free(d);
}

static const char ORIGINAL[] = "Hi <b>, mail ann@example.com or bob@example.org; card "
                               "4111111111111111, again ann@example.com <EMAIL_9> <X>";

static hr_pii_redactor *redacted(const hr_pii *d, hr_buf *out)
{
    hr_pii_redactor *r = NULL;
    assert_int_equal(hr_pii_redactor_new(&r, d, HR_PII_ALL), 0);
    assert_int_equal(hr_pii_redact(r, ORIGINAL, strlen(ORIGINAL), out, NULL), 0);
    assert_string_equal(out->p, "Hi <b>, mail <EMAIL_1> or <EMAIL_2>; card <CARD_1>, again "
                                "<EMAIL_1> <EMAIL_9> <X>");
    return r;
}

static void test_restore(void **state)
{
    hr_pii *d = builtin();
    hr_buf red = {0}, back = {0};
    hr_pii_redactor *r = redacted(d, &red);
    assert_int_equal(hr_pii_restore(r, red.p, red.len, &back), 0);
    assert_string_equal(back.p, ORIGINAL);
    static const char *const same[] = {
        "<EMAIL_0> <EMAIL_01> <EMAIL_3> <email_1> <EMAIL_1 > <EMAIL-1> <EMAIL_> <_1> <>",
        "<EMAIL_1", "<", "<<", "a < b > c", "<SECRET_1>", "<EMAIL_99999999999999999999>",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        hr_buf_reset(&back);
        assert_int_equal(hr_pii_restore(r, same[i], strlen(same[i]), &back), 0);
        assert_string_equal(back.p, same[i]);
    }
    hr_buf_reset(&back);
    assert_int_equal(hr_pii_restore(r, "<<EMAIL_2>>", 11, &back), 0);
    assert_string_equal(back.p, "<bob@example.org>");
    hr_buf_reset(&back);
    assert_int_equal(hr_pii_restore(r, NULL, 0, &back), 0);
    assert_int_equal(back.len, 0);
    hr_pii_redactor_free(r);
    hr_buf_deinit(&red);
    hr_buf_deinit(&back);
    hr_pii_free(d);
}

/* Feed text cut at the given points, then flush. */
static void stream(const hr_pii_redactor *r, const char *text, const size_t *cut, size_t n_cut,
                   hr_buf *out)
{
    hr_pii_restorer *s = NULL;
    assert_int_equal(hr_pii_restorer_new(&s, r), 0);
    size_t from = 0, len = strlen(text);
    for (size_t i = 0; i <= n_cut; i++) {
        size_t to = i < n_cut ? cut[i] : len;
        assert_int_equal(hr_pii_restorer_feed(s, text + from, to - from, out), 0);
        from = to;
    }
    assert_int_equal(hr_pii_restorer_flush(s, out), 0);
    hr_pii_restorer_free(s);
}

static void test_stream_restore(void **state)
{
    hr_pii *d = builtin();
    hr_buf red = {0}, out = {0};
    hr_pii_redactor *r = redacted(d, &red);
    for (size_t i = 0; i <= red.len; i++) {
        hr_buf_reset(&out);
        stream(r, red.p, &i, 1, &out);
        assert_string_equal(out.p, ORIGINAL);
    }
    const char *shorter = "x<CARD_1>y<EMAIL_2><EMAIL_9>";
    for (size_t i = 0; i <= strlen(shorter); i++) {
        for (size_t j = i; j <= strlen(shorter); j++) {
            size_t cut[2] = {i, j};
            hr_buf_reset(&out);
            stream(r, shorter, cut, 2, &out);
            assert_string_equal(out.p, "x4111111111111111ybob@example.org<EMAIL_9>");
        }
    }
    size_t every[128];
    for (size_t i = 0; i < red.len; i++) {
        every[i] = i + 1;
    }
    hr_buf_reset(&out);
    stream(r, red.p, every, red.len, &out);
    assert_string_equal(out.p, ORIGINAL);

    /* Only a possible placeholder is held back, and a flush lets it go. */
    hr_pii_restorer *s = NULL;
    assert_int_equal(hr_pii_restorer_new(&s, r), 0);
    hr_buf_reset(&out);
    assert_int_equal(hr_pii_restorer_feed(s, "Hello <EMA", 10, &out), 0);
    assert_string_equal(out.p, "Hello ");
    assert_int_equal(hr_pii_restorer_feed(s, "IL_1> <b> <IB", 13, &out), 0);
    assert_string_equal(out.p, "Hello ann@example.com <b> <IB");
    assert_int_equal(hr_pii_restorer_feed(s, "<EMAIL_1", 8, &out), 0);
    assert_int_equal(hr_pii_restorer_feed(s, "", 0, &out), 0);
    assert_string_equal(out.p, "Hello ann@example.com <b> <IB");
    assert_int_equal(hr_pii_restorer_flush(s, &out), 0);
    assert_string_equal(out.p, "Hello ann@example.com <b> <IB<EMAIL_1");
    assert_int_equal(hr_pii_restorer_flush(s, &out), 0);
    hr_pii_restorer_free(s);
    hr_pii_restorer_free(NULL);
    hr_pii_redactor_free(r);
    hr_pii_redactor_free(NULL);
    hr_buf_deinit(&red);
    hr_buf_deinit(&out);
    hr_pii_free(d);
    hr_pii_free(NULL);
}

static const char REQUEST[] =
    "{\"model\": \"auto\", \"messages\": ["
    "{\"role\": \"system\", \"content\": \"You help bob@example.com\"},"
    "{\"role\": \"user\", \"name\": \"alice@example.com\", \"content\": ["
    "{\"type\": \"text\", \"text\": \"Card 4111111111111111 please\"},"
    "{\"type\": \"image_url\", \"image_url\": {\"url\": \"http://x/a@b.com\"}}]},"
    "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\", "
    "\"function\": {\"name\": \"send\", \"arguments\": \"{\\\"to\\\": \\\"bob@example.com\\\", "
    "\\\"note\\\": \\\"line\\\\nJohn\\\", \\\"card\\\": 4111111111111111, "
    "\\\"at\\\": \\\"x\\\\u0040y.com\\\"}\"}}, {\"id\": \"c2\", \"type\": \"function\", "
    "\"function\": {\"name\": \"signup\", \"arguments\": \"{\\\"password\\\": "
    "\\\"p\\\\\\\"w d12!\\\", \\\"dob\\\": \\\"1985-03-12\\\", \\\"phone\\\": "
    "\\\"4155552671\\\", \\\"api_key\\\": \\\"YOUR_API_KEY\\\", \\\"max_tokens\\\": 12}\"}}]},"
    "{\"role\": \"assistant\", \"function_call\": {\"name\": \"f\", \"arguments\": "
    "\"not json: ip 10.0.0.1\"}},"
    "{\"role\": \"tool\", \"content\": \"nothing here\"}],"
    "\"prompt\": [\"call +14155552671\", 42], \"input\": \"ssn 123-45-6789\"}";

static void test_json(void **state)
{
    const char *names[] = {"John"};
    hr_pii_deny dl = {"person", names, 1};
    hr_pii_config cfg = {NULL, 0, &dl, 1};
    hr_pii *d = NULL;
    char err[256];
    assert_int_equal(hr_pii_new(&d, &cfg, err, sizeof err), 0);
    json_t *req = json_loads(REQUEST, 0, NULL);
    assert_non_null(req);
    hr_pii_counts c = {0};
    assert_int_equal(hr_pii_scan_json(d, req, &c), 0);
    assert_int_equal(c.n[HR_PII_EMAIL], 3);
    assert_int_equal(c.n[HR_PII_CARD], 2);
    assert_int_equal(c.n[HR_PII_N_BUILTIN], 1);
    assert_int_equal(c.n[HR_PII_IPV4], 1);
    assert_int_equal(c.n[HR_PII_PHONE], 2);
    assert_int_equal(c.n[HR_PII_SSN], 1);
    assert_int_equal(c.n[HR_PII_SECRET], 1);
    assert_int_equal(c.n[HR_PII_DOB], 1);
    assert_int_equal(c.n[HR_PII_IMAGE], 1); /* counted, never looked into */
    assert_int_equal(hr_pii_counts_total(&c), 13);

    hr_pii_redactor *r = NULL;
    assert_int_equal(hr_pii_redactor_new(&r, d, HR_PII_ALL), 0);
    assert_int_equal(hr_pii_redact_json(r, req), 0);
    json_t *m = json_object_get(req, "messages");
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
                        "You help <EMAIL_1>");
    json_t *u = json_array_get(m, 1);
    assert_string_equal(json_string_value(json_object_get(u, "name")), "alice@example.com");
    json_t *parts = json_object_get(u, "content");
    assert_string_equal(json_string_value(json_object_get(json_array_get(parts, 0), "text")),
                        "Card <CARD_1> please");
    json_t *img = json_object_get(json_array_get(parts, 1), "image_url");
    assert_string_equal(json_string_value(json_object_get(img, "url")), "http://x/a@b.com");
    json_t *call = json_array_get(json_object_get(json_array_get(m, 2), "tool_calls"), 0);
    const char *args =
        json_string_value(json_object_get(json_object_get(call, "function"), "arguments"));
    assert_string_equal(args, "{\"to\": \"<EMAIL_1>\", \"note\": \"line\\n<PERSON_1>\", "
                              "\"card\": \"<CARD_1>\", \"at\": \"<EMAIL_2>\"}");
    json_t *parsed = json_loads(args, 0, NULL);
    assert_non_null(parsed);
    json_decref(parsed);
    /* A key names the value: the secret as a whole, and the context for
     * dates and bare numbers; placeholders stay. */
    call = json_array_get(json_object_get(json_array_get(m, 2), "tool_calls"), 1);
    const char *args2 =
        json_string_value(json_object_get(json_object_get(call, "function"), "arguments"));
    assert_string_equal(args2, "{\"password\": \"<SECRET_1>\", \"dob\": \"<DOB_1>\", "
                               "\"phone\": \"<PHONE_1>\", \"api_key\": \"YOUR_API_KEY\", "
                               "\"max_tokens\": 12}");
    hr_buf back = {0};
    assert_int_equal(hr_pii_restore_json_text(r, args2, strlen(args2), &back), 0);
    assert_string_equal(back.p, "{\"password\": \"p\\\"w d12!\", \"dob\": \"1985-03-12\", "
                                "\"phone\": \"4155552671\", \"api_key\": \"YOUR_API_KEY\", "
                                "\"max_tokens\": 12}");
    hr_buf_reset(&back);
    json_t *fc = json_object_get(json_array_get(m, 3), "function_call");
    assert_string_equal(json_string_value(json_object_get(fc, "arguments")),
                        "not json: ip <IPV4_1>");
    json_t *prompt = json_object_get(req, "prompt");
    assert_string_equal(json_string_value(json_array_get(prompt, 0)), "call <PHONE_2>");
    assert_int_equal(json_integer_value(json_array_get(prompt, 1)), 42);
    assert_string_equal(json_string_value(json_object_get(req, "input")), "ssn <SSN_1>");
    assert_int_equal(hr_pii_counts_total(hr_pii_redactor_counts(r)), 12);
    assert_int_equal(hr_pii_restore(r, args, strlen(args), &back), 0);
    assert_string_equal(back.p, "{\"to\": \"bob@example.com\", \"note\": \"line\\nJohn\", "
                                "\"card\": \"4111111111111111\", \"at\": \"x@y.com\"}");
    /* Streamed, JSON text gets its originals escaped too. */
    hr_pii_restorer *s = NULL;
    assert_int_equal(hr_pii_restorer_new(&s, r), 0);
    hr_pii_restorer_set_json_text(s, true);
    hr_buf_reset(&back);
    const char *part1 = "{\"pw\": \"<SECR", *part2 = "ET_1>\\n\"}";
    assert_int_equal(hr_pii_restorer_feed(s, part1, strlen(part1), &back), 0);
    assert_string_equal(back.p, "{\"pw\": \"");
    assert_int_equal(hr_pii_restorer_feed(s, part2, strlen(part2), &back), 0);
    assert_int_equal(hr_pii_restorer_flush(s, &back), 0);
    assert_string_equal(back.p, "{\"pw\": \"p\\\"w d12!\\n\"}");
    hr_pii_restorer_free(s);
    hr_buf_deinit(&back);
    json_t *arr = json_array();
    assert_int_equal(hr_pii_redact_json(r, arr), HR_EINVAL);
    assert_int_equal(hr_pii_scan_json(d, arr, &c), HR_EINVAL);
    json_decref(arr);
    hr_pii_redactor_free(r);
    json_decref(req);
    hr_pii_free(d);
}

/* Everything at once under allocation failure number n. */
static int exercise(const json_t *proto)
{
    const char *names[] = {"John Smith", "falcon"};
    hr_pii_deny dl = {"person", names, 2};
    hr_pii_pattern pat = {"employee", "\\bE\\d{6}\\b"};
    hr_pii_config cfg = {&pat, 1, &dl, 1};
    hr_pii *d = NULL;
    hr_pii_redactor *r = NULL;
    hr_pii_restorer *s = NULL;
    hr_buf out = {0}, back = {0};
    hr_pii_findings f = {0};
    hr_pii_counts c = {0};
    json_t *req = json_deep_copy(proto);
    const char *text = "John Smith (E123456) a@b.io +14155552671 4111111111111111 a@b.io";
    int rc = req ? hr_pii_new(&d, &cfg, NULL, 0) : HR_ENOMEM;
    rc = rc < 0 ? rc : hr_pii_scan(d, text, strlen(text), &f);
    rc = rc < 0 ? rc : hr_pii_count(d, text, strlen(text), &c);
    rc = rc < 0 ? rc : hr_pii_scan_json(d, req, &c);
    rc = rc < 0 ? rc : hr_pii_redactor_new(&r, d, HR_PII_ALL);
    rc = rc < 0 ? rc : hr_pii_redact(r, text, strlen(text), &out, &f);
    rc = rc < 0 ? rc : hr_pii_redact_json(r, req);
    rc = rc < 0 ? rc : hr_pii_restore(r, out.p, out.len, &back);
    rc = rc < 0 ? rc : hr_pii_restorer_new(&s, r);
    rc = rc < 0 ? rc : hr_pii_restorer_feed(s, out.p, 20, &back);
    rc = rc < 0 ? rc : hr_pii_restorer_feed(s, out.p + 20, out.len - 20, &back);
    rc = rc < 0 ? rc : hr_pii_restorer_flush(s, &back);
    if (rc == 0) {
        assert_int_equal(back.len, 2 * strlen(text));
        assert_memory_equal(back.p, text, strlen(text));
    }
    hr_pii_restorer_free(s);
    hr_pii_redactor_free(r);
    hr_pii_free(d);
    hr_pii_findings_deinit(&f);
    hr_buf_deinit(&out);
    hr_buf_deinit(&back);
    json_decref(req);
    return rc;
}

static void test_alloc_failures(void **state)
{
    json_set_alloc_funcs(hr_malloc, hr_free);
    json_t *req = json_loads(REQUEST, 0, NULL);
    assert_non_null(req);
    int failures = 0, successes = 0;
    for (long n = 1; n <= 600; n++) {
        hr_alloc_fail_at(n);
        int rc = exercise(req);
        hr_alloc_fail_at(0);
        if (rc != 0 && rc != HR_ENOMEM) {
            fail_msg("allocation %ld: %s", n, hr_err_name(rc));
        }
        failures += rc != 0;
        successes += rc == 0;
    }
    assert_true(failures > 50);
    assert_true(successes > 0);
    assert_int_equal(exercise(req), 0);
    json_decref(req);
    json_set_alloc_funcs(malloc, free);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The best of three scans of text, in milliseconds. */
static double scan_ms(const hr_pii *d, const char *text, size_t len, int *rc)
{
    double best = 1e9;
    for (int k = 0; k < 3; k++) {
        hr_pii_findings f = {0};
        double t0 = now_ms();
        *rc = hr_pii_scan(d, text, len, &f);
        double t = now_ms() - t0;
        best = t < best ? t : best;
        hr_pii_findings_deinit(&f);
    }
    return best;
}

static void test_hostile_input(void **state)
{
    static const char *const units[] = {
        "a@", "1 ", "a", "7", "-----BEGIN RSA PRIVATE KEY-----", "password=", "&password=",
        "GB82 ", "(1", "+1 ", "a:", "1.", "1-", "1:", "eyJ.", "Bearer ", "DOB: ", "-", "x@a.",
        "0:0", "4111 ", "A1", "api_key=a&", "\"a\":\"",
    };
    bool sanitized = getenv("HEARTH_SANITIZED") && strcmp(getenv("HEARTH_SANITIZED"), "1") == 0;
    double limit = sanitized ? 500 : 50;
    const char *words[] = {"John Smith", "Project Falcon"};
    hr_pii_deny dl = {"person", words, 2};
    hr_pii_config cfg = {NULL, 0, &dl, 1};
    hr_pii *d = NULL;
    char err[256];
    assert_int_equal(hr_pii_new(&d, &cfg, err, sizeof err), 0);
    size_t n = 1 << 20;
    char *buf = malloc(5 * n);
    assert_non_null(buf);
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        size_t ul = strlen(units[k]), len = 0;
        while (len + ul <= n) {
            memcpy(buf + len, units[k], ul);
            len += ul;
        }
        if (k == 2) {
            buf[len - 1] = '@';
        }
        int rc;
        double ms = scan_ms(d, buf, len, &rc);
        assert_int_equal(rc, 0);
        if (ms > limit) {
            fail_msg("1 MB of '%s' took %.1f ms (limit %.0f)", units[k], ms, limit);
        }
    }
    memset(buf, '7', 5 * n);
    int rc;
    double ms = scan_ms(d, buf, 5 * n, &rc);
    assert_int_equal(rc, 0);
    assert_true(ms < limit * 10);
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)(0x80 + (i * 7919) % 128);
    }
    memcpy(buf + 1000, " bob@example.com ", 17);
    memcpy(buf + 5000, "\xc3(\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc John  Smith\xff", 25);
    hr_pii_findings f = {0};
    assert_int_equal(hr_pii_scan(d, buf, n, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].start, 1001);
    hr_pii_findings_deinit(&f);
    assert_int_equal(hr_pii_scan(d, "", 0, &f), 0);
    assert_int_equal(hr_pii_scan(d, NULL, 0, &f), 0);
    assert_int_equal(f.n, 0);
    hr_pii_free(d);

    /* A configured pattern that backtracks without end hits the limits. */
    hr_pii_pattern evil = {"evil", "(a+)+$"};
    cfg = (hr_pii_config){&evil, 1, NULL, 0};
    assert_int_equal(hr_pii_new(&d, &cfg, err, sizeof err), 0);
    memset(buf, 'a', 4000);
    buf[4000] = 'b';
    double t0 = now_ms();
    assert_int_equal(hr_pii_scan(d, buf, 4001, &f), HR_ETOOBIG);
    assert_true(now_ms() - t0 < limit * 10);
    assert_int_equal(f.n, 0);
    /* UTF-8 patterns run on broken UTF-8 too. */
    hr_pii_free(d);
    hr_pii_pattern word = {"city", "\\bZ\\p{L}rich\\b"};
    cfg = (hr_pii_config){&word, 1, NULL, 0};
    assert_int_equal(hr_pii_new(&d, &cfg, err, sizeof err), 0);
    const char *mixed = "\xff\xfe Z\xc3\xbcrich \xc3 Z\xc3rich";
    assert_int_equal(hr_pii_scan(d, mixed, strlen(mixed), &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].end - f.v[0].start, 7);
    hr_pii_findings_deinit(&f);
    hr_pii_free(d);
    free(buf);
}

typedef struct job {
    const hr_pii *d;
    size_t found;
} job;

static void *scan_many(void *arg)
{
    job *j = arg;
    hr_pii_redactor *r = NULL;
    if (hr_pii_redactor_new(&r, j->d, HR_PII_ALL) < 0) {
        return NULL;
    }
    for (int i = 0; i < 300; i++) {
        hr_buf out = {0};
        hr_pii_findings f = {0};
        if (hr_pii_redact(r, ORIGINAL, strlen(ORIGINAL), &out, &f) == 0) {
            j->found += f.n;
        }
        hr_pii_findings_deinit(&f);
        hr_buf_deinit(&out);
    }
    hr_pii_redactor_free(r);
    return NULL;
}

static void test_threads(void **state)
{
    hr_pii *d = builtin();
    pthread_t t[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){d, 0};
        assert_int_equal(pthread_create(&t[i], NULL, scan_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].found, 300 * 4);
    }
    hr_pii_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positives),
        cmocka_unit_test(test_negatives),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_classes_and_config),
        cmocka_unit_test(test_overlaps),
        cmocka_unit_test(test_redact_numbering),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_stream_restore),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
