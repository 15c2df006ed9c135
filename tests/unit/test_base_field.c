/*  test_base_field.c: the field validator (st_field) and its UTF-8 checks:
 *  lengths, classes, non-UTF-8 bytes, and cuts that never split a character.  */
#include <criterion/criterion.h>

#include <string.h>

#include "st_field.h"

Test (field, names)
{
    st_field_t name = ST_FIELD_NAME (8), longer = ST_FIELD_NAME (16);
    cr_assert (st_field_ok_str ("job-1.a_b", &longer));
    cr_assert (st_field_ok_str ("12345678", &name));
    cr_assert_not (st_field_ok_str ("123456789", &name), "one byte past the cap");
    cr_assert_not (st_field_ok_str ("", &name), "empty");
    cr_assert_not (st_field_ok_str (NULL, &name));
    cr_assert_not (st_field_ok_str ("a b", &name));
    cr_assert_not (st_field_ok_str ("a/b", &name));
    cr_assert_not (st_field_ok_str ("caf\xc3\xa9", &name), "letters are ASCII letters");
    cr_assert_not (st_field_ok ("ab\0c", 4, &name), "an embedded NUL");
}

Test (field, classes_and_extra)
{
    st_field_t region = { 64, ST_FIELD_LOWER | ST_FIELD_DIGIT, "-" };
    cr_assert (st_field_ok_str ("eu-west-1", &region));
    cr_assert_not (st_field_ok_str ("EU-west", &region));
    st_field_t jur = { 16, ST_FIELD_UPPER | ST_FIELD_DIGIT, "-" };
    cr_assert (st_field_ok_str ("EU", &jur));
    cr_assert_not (st_field_ok_str ("eu", &jur));
    st_field_t model = { 128, ST_FIELD_ALNUM, "._/-:" };
    cr_assert (st_field_ok_str ("acme/twin:3", &model));
    st_field_t text = { 100, ST_FIELD_ANY, NULL };
    cr_assert (st_field_ok_str ("any text, caf\xc3\xa9 \xe2\x82\xac", &text));
    cr_assert_not (st_field_ok_str ("bad \xff byte", &text), "non-UTF-8 even where any character goes");
    cr_assert_not (st_field_ok_str ("cut \xe2\x82", &text), "a character cut short");
    cr_assert_not (st_field_ok_str ("\xc0\xaf", &text), "an overlong '/'");
    cr_assert_not (st_field_ok_str ("\xed\xa0\x80", &text), "a surrogate");
    cr_assert_not (st_field_ok_str ("\xf4\x90\x80\x80", &text), "past U+10FFFF");
    cr_assert_not (st_field_ok_str ("\x80", &text), "a stray continuation byte");
}

Test (field, utf8_valid)
{
    cr_assert (st_utf8_valid ("", 0));
    cr_assert (st_utf8_valid ("plain", 5));
    cr_assert (st_utf8_valid ("\xf0\x9f\x98\x80", 4));
    cr_assert_not (st_utf8_valid ("\xf0\x9f\x98", 3));
    cr_assert_not (st_utf8_valid ("a\xfe", 2));
    cr_assert_eq (st_utf8_char ((const unsigned char *) "\xe2\x82\xac", 3), 3);
    cr_assert_eq (st_utf8_char ((const unsigned char *) "\xe2\x82\xac", 2), 0, "cut short by avail");
}

Test (field, cut_never_splits_a_character)
{
    const char *s = "ab\xe2\x82\xac"
                    "cd"; /*  a b EURO c d: the euro is bytes 2..4  */
    size_t len = strlen (s);
    cr_assert_eq (st_utf8_cut (s, len, 100), len, "short enough: whole");
    cr_assert_eq (st_utf8_cut (s, len, 5), 5, "after the euro");
    cr_assert_eq (st_utf8_cut (s, len, 4), 2, "in the middle of the euro: before it");
    cr_assert_eq (st_utf8_cut (s, len, 3), 2, "in the middle of the euro: before it");
    cr_assert_eq (st_utf8_cut (s, len, 2), 2);
    cr_assert_eq (st_utf8_cut (s, len, 0), 0);
    cr_assert (st_utf8_valid (s, st_utf8_cut (s, len, 4)));
    /*  on invalid text it still stops: only continuation bytes are stepped over  */
    cr_assert_eq (st_utf8_cut ("\x80\x80\x80\x80", 4, 2), 0);
}
