/* test-stage-extract.c - unit tests for the extract stage (HTML to text)
 *
 * Pages in the shapes the crawl brings: a Chinese manual page (the
 * debian-reference chapter installed on the build machine, when present),
 * Chinese and English pages with navigation, headers, footers, scripts and
 * comment sections around the text, and the markup edge cases: <pre>,
 * <br>, lists, tables, entities, unclosed tags, 100000 nested elements,
 * invalid UTF-8. Also the parameters, their errors, and that records not
 * marked as HTML pass untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage-util.h"
#include "strbuf.h"
#include "test.h"
#include "utf8.h"

/* Extract html with params; the text, or "DROP:reason" / "ERR". */
static char *
extract(const char *params, const char *html)
{
    struct stage_run r;
    char *out;

    stage_run_format(&r, "extract", params, "html", html);
    if (r.rc < 0) {
        out = strdup("ERR");
    } else if (r.verdict == STAGE_DROP) {
        size_t n = strlen(r.reason) + 6;

        out = malloc(n);
        snprintf(out, n, "DROP:%s", r.reason);
    } else {
        out = r.text;
        r.text = NULL;
    }
    stage_run_release(&r);
    return out;
}

#define CHECK_EXTRACT(params, html, want)                                      \
    do {                                                                       \
        char *got_ = extract(params, html);                                    \
        CHECK_STR(got_, want);                                                 \
        free(got_);                                                            \
    } while (0)

static const char *
meta_str(const cJSON *obj, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "meta");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *
obj_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct strbuf sb = STRBUF_INIT;
    char buf[65536];
    size_t n;

    if (!f)
        return NULL;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(&sb, buf, n);
    fclose(f);
    return strbuf_detach(&sb, NULL);
}

/* The installed Chinese debian-reference chapter, with a script, a style
 * sheet, a <nav> and a <footer> put in around its text. */
TEST(zh_debian_reference)
{
    const char *path = "/usr/share/debian-reference/ch01.zh-cn.html";
    char *html = read_file(path), *body, *end;
    struct strbuf sb = STRBUF_INIT;
    struct stage_run r;

    if (!html) {
        printf("  note: %s missing, test skipped\n", path);
        return;
    }
    body = strstr(html, "<body>");
    end = strstr(html, "</body>");
    CHECK(body && end && body < end);
    if (!body || !end || end < body) {
        free(html);
        return;
    }
    body += strlen("<body>");
    strbuf_add(&sb, html, (size_t)(body - html));
    strbuf_addstr(&sb, "<script>var 追踪代码 = \"脚本文本\";</script>"
                       "<style>.x { color: red }</style>"
                       "<nav><ul><li>首页</li><li>网站导航</li></ul></nav>"
                       "<div class=\"site-header\">页眉广告</div>");
    strbuf_add(&sb, body, (size_t)(end - body));
    strbuf_addstr(&sb, "<footer>版权所有 页脚文字</footer>");
    strbuf_addstr(&sb, end);
    free(html);

    stage_run_format(&r, "extract", NULL, "html", sb.buf);
    CHECK(r.rc == STAGE_KEEP);
    CHECK(r.text && utf8_valid(r.text, strlen(r.text)));
    if (r.text) {
        /* the chapter title leads, once (the body opens with it) */
        CHECK(!strncmp(r.text, "第 1 章 GNU/Linux 教程\n", 25));
        /* paragraph text, the line breaks of the source joined */
        CHECK(strstr(r.text, "单行 shell 脚本能够在多个文件上循环使用"));
        CHECK(strstr(r.text, "显示最后两行"));
        /* left out: script, style, nav, header-classed block, footer */
        CHECK(!strstr(r.text, "脚本文本"));
        CHECK(!strstr(r.text, "追踪代码"));
        CHECK(!strstr(r.text, "color: red"));
        CHECK(!strstr(r.text, "网站导航"));
        CHECK(!strstr(r.text, "页眉广告"));
        CHECK(!strstr(r.text, "页脚文字"));
        /* only in <head> attributes */
        CHECK(!strstr(r.text, "Debian 参考手册"));
        /* the table of contents is a list of links: navigation */
        CHECK(strstr(r.text, "\n\n目录\n\n我认为学习一个计算机系统"));
        CHECK(strstr(r.text, "\n\n1.1.1. shell 提示符\n\n启动系统之后"));
        /* <pre> keeps its lines */
        CHECK(strstr(r.text, "\nfoo login: penguin\nPassword:\n"));
        CHECK(!strstr(r.text, "\n\n\n"));
    }
    CHECK_STR(obj_str(r.obj, "format"), "text");
    CHECK_STR(meta_str(r.obj, "extracted_from"), "html");
    stage_run_release(&r);
    strbuf_release(&sb);
}

TEST(zh_page)
{
    CHECK_EXTRACT(
        NULL,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        "<title>春节假期安排</title>"
        "<style>body { font: 14px }</style>"
        "<script>window.ga = \"统计代码\";</script></head>"
        "<body><header><a href=\"/\">新闻网</a></header>"
        "<nav><a href=\"/a\">国内</a> <a href=\"/b\">国际</a></nav>"
        "<div id=\"breadcrumb\"><a href=\"/\">首页</a> &gt; 正文</div>"
        "<div class=\"article\"><h1>春节假期安排</h1>\n"
        "<p>根据国务院办公厅通知，\n"
        "  春节假期共<b>八</b>天。</p>\n"
        "<p>请各单位<a href=\"/x\">妥善安排</a>好值班工作。</p></div>"
        "<div class=\"comment-list\"><p>网友评论：好！</p></div>"
        "<footer>Copyright 2024 新闻网</footer></body></html>",
        "春节假期安排\n\n"
        "根据国务院办公厅通知，春节假期共八天。\n\n"
        "请各单位妥善安排好值班工作。");
}

TEST(en_article)
{
    CHECK_EXTRACT(
        NULL,
        "<html><head><title>How Tides Work | Ocean Facts</title></head>"
        "<body class=\"has-sidebar page\">"
        "<div id=\"cookie-banner\">We use cookies.</div>"
        "<header class=\"site\"><h1>Ocean Facts</h1></header>"
        "<main><article>\n"
        "  <h1>How   Tides\n Work</h1>\n"
        "  <p>Tides are caused by the <em>gravitational</em> pull of the\n"
        "     Moon and the Sun.</p>\n"
        "  <p>Most coasts see two high tides a day.</p>\n"
        "  <div class=\"social-share\"><a href=\"/t\">Tweet</a></div>\n"
        "</article>"
        "<aside><h2>Related</h2><p>Waves</p></aside></main>"
        "<div class=\"sidebar\">Popular posts</div>"
        "<footer><p>&copy; 2024</p></footer></body></html>",
        "How Tides Work | Ocean Facts\n\n"
        "How Tides Work\n\n"
        "Tides are caused by the gravitational pull of the Moon and the "
        "Sun.\n\n"
        "Most coasts see two high tides a day.");
}

TEST(pre_whitespace)
{
    CHECK_EXTRACT("{\"title\": \"drop\"}",
                  "<p>Run:</p><pre>\n$ make  -j2\n    cc  a.c\n</pre>"
                  "<p>then   test.</p>",
                  "Run:\n\n$ make  -j2\n    cc  a.c\n\nthen test.");
    CHECK_EXTRACT(NULL, "<pre>a<br>b\n\n<b>c  d</b></pre>", "a\nb\n\nc  d");
}

TEST(br_breaks)
{
    CHECK_EXTRACT(NULL, "<p>one<br>two<br><br>three<br><br><br>four</p>",
                  "one\ntwo\n\nthree\n\nfour");
    CHECK_EXTRACT(NULL, "<br><br>lead<br>", "lead");
    CHECK_EXTRACT(NULL, "<td>第一行<br />第二行</td>", "第一行\n第二行");
}

TEST(lists)
{
    CHECK_EXTRACT(NULL,
                  "<p>Steps:</p><ul><li>one</li><li>two\n</li>"
                  "<li>three<ol><li>a</li><li>b</li></ol></li></ul><p>end</p>",
                  "Steps:\n\none\ntwo\nthree\n\na\nb\n\nend");
    CHECK_EXTRACT(NULL, "<dl><dt>term</dt><dd>meaning</dd></dl>",
                  "term\nmeaning");
}

TEST(tables)
{
    CHECK_EXTRACT(NULL,
                  "<p>before</p><table><caption>价格</caption>"
                  "<tr><th>名称</th><th>价格</th></tr>\n"
                  "<tr><td>苹果</td> <td>5 元</td></tr>"
                  "<tr><td></td><td>空</td></tr></table><p>after</p>",
                  "before\n\n价格\n名称\t价格\n苹果\t5 元\n空\n\nafter");
}

TEST(title_modes)
{
    const char *page = "<title> Hello\n World </title><p>Body text.</p>";
    const char *same = "<title>Hello World</title>"
                       "<h1>Hello World</h1><p>Body text.</p>";
    struct stage_run r;

    CHECK_EXTRACT(NULL, page, "Hello World\n\nBody text.");
    CHECK_EXTRACT("{\"title\": \"prepend\"}", same,
                  "Hello World\n\nBody text.");
    CHECK_EXTRACT("{\"title\": \"drop\"}", page, "Body text.");

    stage_run_format(&r, "extract", "{\"title\": \"meta\"}", "html", page);
    CHECK(r.verdict == STAGE_KEEP);
    CHECK_STR(r.text, "Body text.");
    CHECK_STR(meta_str(r.obj, "title"), "Hello World");
    stage_run_release(&r);

    stage_run_format(&r, "extract", "{\"title\": \"drop\"}", "html", page);
    CHECK(meta_str(r.obj, "title") == NULL);
    stage_run_release(&r);

    /* a title alone is no document; <title> in the body is still one */
    CHECK_EXTRACT(NULL, "<title>Only</title>", "DROP:empty_html");
    CHECK_EXTRACT(NULL, "<p>x</p><title>Late</title>", "Late\n\nx");
}

TEST(entities)
{
    CHECK_EXTRACT(NULL,
                  "<p>A &amp; B&nbsp;&nbsp;C &#x4e2d;&#25991; &lt;tag&gt;"
                  " &quot;q&quot; &copy</p>",
                  "A & B C 中文 <tag> \"q\" \xC2\xA9");
    CHECK_EXTRACT(NULL, "<p>&nbsp;&nbsp;&nbsp;&nbsp;首行缩进</p>", "首行缩进");
    /* ruby annotations are left out */
    CHECK_EXTRACT(NULL,
                  "<p><ruby>漢<rp>(</rp><rt>hàn</rt><rp>)</rp></ruby>字</p>",
                  "漢字");
}

TEST(cjk_spacing)
{
    /* line breaks inside Chinese text vanish, spaces elsewhere stay */
    CHECK_EXTRACT(NULL, "<p>中文\n文本，\n继续</p>", "中文文本，继续");
    CHECK_EXTRACT(NULL, "<p>中文\nEnglish\n中文</p>", "中文 English 中文");
    CHECK_EXTRACT(NULL, "<p><b>粗体</b><i>斜体</i><a href=x>链接</a>。</p>",
                  "粗体斜体链接。");
    CHECK_EXTRACT(NULL, "<p><span>中文</span>\n<span>文本</span></p>",
                  "中文文本");
    CHECK_EXTRACT(NULL, "<p>中文 文本</p>", "中文 文本");
    CHECK_EXTRACT(NULL, "<p>word<b>bold</b> <i>it</i></p>", "wordbold it");
}

TEST(malformed)
{
    CHECK_EXTRACT(NULL, "<p>one<p>two<div>three", "one\n\ntwo\n\nthree");
    CHECK_EXTRACT(NULL, "<ul><li>a<li>b</ul>tail", "a\nb\n\ntail");
    CHECK_EXTRACT(NULL, "<b>bold <i>both</b> italic</i> plain",
                  "bold both italic plain");
    CHECK_EXTRACT(NULL, "<table><tr><td>x<td>y</table>z", "x\ty\n\nz");
    CHECK_EXTRACT(NULL, "<div><p>text</div></p><a href=\"x", "text");
    CHECK_EXTRACT(NULL, "<p>a<!-- hidden <p>b --> c</p><!-- open", "a c");
    CHECK_EXTRACT(NULL, "<p>x<script>never closed <p>y", "x");
    /* XHTML-style <a/> opens an element in HTML; the text is all there */
    CHECK_EXTRACT(NULL, "<h1><a id=\"t\"/>Title</h1><p>after</p>",
                  "Title\n\nafter");
}

TEST(scripts_and_styles)
{
    /* taken out before parsing: the end tag is found as the parser would */
    CHECK_EXTRACT(NULL,
                  "<title>T</title><script>if (a<b && c>d) x = '</scr' + "
                  "'ipt>';</script><p>after</p>",
                  "T\n\nafter");
    CHECK_EXTRACT(NULL,
                  "<script><!-- document.write(\"<script>x()</script>\"); "
                  "//--></script><p>after</p>",
                  "after");
    CHECK_EXTRACT(NULL, "<script><!--</script><p>after</p>", "after");
    CHECK_EXTRACT(NULL, "<script></SCRIPT ><p>a</p><script>x</scripts>", "a");
    CHECK_EXTRACT(NULL,
                  "<style>p::after { content: \"</p>\" }</style>"
                  "<p>styled</p><textarea><p>typed</p></textarea>"
                  "<iframe><p>frame</p></iframe>",
                  "styled");
    /* in SVG a <style> holds elements; text after it is still there */
    CHECK_EXTRACT(NULL,
                  "<svg><style><g/></style></svg><p>icon</p>"
                  "<script>s()</script><p>end</p>",
                  "icon\n\nend");
    /* in a <select> a <style> start tag is ignored */
    CHECK_EXTRACT(NULL, "<select><style></select><p>after</p>", "after");
}

static char *
repeat(const char *open, size_t n, const char *middle, const char *close)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;

    for (i = 0; i < n; i++)
        strbuf_addstr(&sb, open);
    strbuf_addstr(&sb, middle);
    for (i = 0; close && i < n; i++)
        strbuf_addstr(&sb, close);
    return strbuf_detach(&sb, NULL);
}

TEST(deep_nesting)
{
    char *html = repeat("<div>", 100000, "deep", "</div>");
    char *spans;

    /* the parser would take minutes: dropped before parsing */
    CHECK_EXTRACT(NULL, html, "DROP:html_too_deep");
    free(html);
    html = repeat("<div>", 100000, "deep", NULL);
    CHECK_EXTRACT(NULL, html, "DROP:html_too_deep");
    free(html);

    /* within the limit, balanced and not, is fine */
    html = repeat("<div>", 500, "deep", "</div>");
    CHECK_EXTRACT(NULL, html, "deep");
    free(html);
    html = repeat("<div></div><p>", 5000, "many siblings", "</p>");
    CHECK_EXTRACT(NULL, html, "many siblings");
    free(html);

    /* 100000 levels that the parser builds cheaply: the walk must cope */
    spans = repeat("<span>", 100000, "<p>deep text</p>", "</span>");
    CHECK_EXTRACT("{\"max_depth\": 200000}", spans, "deep text");
    free(spans);
    spans = repeat("<b><i>", 600, "x", NULL);
    CHECK_EXTRACT(NULL, spans, "DROP:html_too_deep");
    free(spans);

    /* what the depth estimate does not count */
    html = repeat("<p><li><td><br><img src=x>", 5000, "flat", NULL);
    CHECK_EXTRACT(NULL, html, "flat");
    free(html);
    html = repeat("<script>\"<div><div>\"</script>", 1000, "<p>ok", NULL);
    CHECK_EXTRACT(NULL, html, "ok");
    free(html);
    html = repeat("<svg><path d=\"M0\"/><g/></svg>", 2000, "<p>icons", NULL);
    CHECK_EXTRACT(NULL, html, "icons");
    free(html);
    html = repeat("<!-- <div> -->", 1000, "<p>comments", NULL);
    CHECK_EXTRACT(NULL, html, "comments");
    free(html);
}

TEST(unclosed_links_counted_once)
{
    /* <a> closes an open <a>: 2000 unclosed links are not 2000 levels */
    char *html = repeat("<a href=x>link ", 2000, "<p>end", NULL);
    char *got = extract("{\"max_link_density\": 1}", html);

    CHECK(got && strncmp(got, "link link", 9) == 0);
    free(got);
    free(html);
}

TEST(pathological_formatting)
{
    /* 400 formatting elements closed with their paragraph, reopened in
     * each of the 5000 next: two million elements from 30 kB */
    struct strbuf sb = STRBUF_INIT;
    int i;

    strbuf_addstr(&sb, "<p>");
    for (i = 0; i < 400; i++)
        strbuf_addf(&sb, "<b id=b%d>", i);
    for (i = 0; i < 5000; i++)
        strbuf_addstr(&sb, "<p>x");
    CHECK_EXTRACT(NULL, sb.buf, "DROP:html_too_complex");
    strbuf_release(&sb);
}

TEST(boilerplate_classes)
{
    CHECK_EXTRACT(NULL,
                  "<div class=\"main-nav\">Menu A</div>"
                  "<div class=\"navigation\">kept nav word</div>"
                  "<div id=\"site_footer\">Footer</div>"
                  "<div class=\"Post-Comment\">Comment</div>"
                  "<div class=\"ad\">Ad 1</div><div class=\"add\">add</div>"
                  "<div class=\"no-sidebar\">no sidebar</div>"
                  "<p class=\"lead  text\">Lead</p>",
                  "kept nav word\nadd\nno sidebar\n\nLead");
    CHECK_EXTRACT("{\"boilerplate_classes\": [\"Promo\"]}",
                  "<div class=\"ad\">Ad</div><div class=\"x promo\">P</div>",
                  "Ad");
    CHECK_EXTRACT("{\"boilerplate_classes\": []}", "<div class=\"nav\">N</div>",
                  "N");
    /* never the page itself */
    CHECK_EXTRACT(NULL, "<body class=\"header-fixed\"><p>text</p></body>",
                  "text");
}

TEST(link_density)
{
    const char *menu = "<p>Intro text here.</p>"
                       "<ul><li><a href=/a>Home</a></li>"
                       "<li><a href=/b>About us</a></li></ul>"
                       "<p>More <a href=/c>text</a> follows.</p>";

    CHECK_EXTRACT(NULL, menu, "Intro text here.\n\nMore text follows.");
    CHECK_EXTRACT("{\"max_link_density\": 1}", menu,
                  "Intro text here.\n\nHome\nAbout us\n\n"
                  "More text follows.");
    CHECK_EXTRACT("{\"min_links\": 1}", "<p><a href=/x>Read more</a></p>",
                  "DROP:empty_html");
    CHECK_EXTRACT(NULL, "<p><a href=/x>Read more</a></p>", "Read more");
    /* two links in a long paragraph */
    CHECK_EXTRACT(NULL,
                  "<p>See <a href=/a>this</a> and <a href=/b>that</a> for "
                  "the details of the method.</p>",
                  "See this and that for the details of the method.");
    /* named anchors are no links */
    CHECK_EXTRACT(NULL, "<p><a name=a>one</a> <a name=b>two</a></p>",
                  "one two");
    /* Chinese counts characters, not bytes */
    CHECK_EXTRACT(NULL,
                  "<div><a href=/1>新闻</a> <a href=/2>体育</a> "
                  "<a href=/3>财经</a></div><p>正文内容。</p>",
                  "正文内容。");
}

TEST(empty_and_min_chars)
{
    CHECK_EXTRACT(NULL, "", "DROP:empty_html");
    CHECK_EXTRACT(NULL,
                  "<html><head><script>x()</script></head>"
                  "<body> \n <nav>menu</nav></body></html>",
                  "DROP:empty_html");
    CHECK_EXTRACT("{\"min_chars\": 10}", "<p>短文本</p>", "DROP:empty_html");
    CHECK_EXTRACT("{\"min_chars\": 3}", "<p>短文本</p>", "短文本");
}

TEST(record_fields)
{
    struct stage_run r;

    stage_run_format(&r, "extract", NULL, "html", "<p>x</p>");
    CHECK(r.verdict == STAGE_KEEP);
    CHECK_STR(obj_str(r.obj, "format"), "text");
    CHECK_STR(meta_str(r.obj, "extracted_from"), "html");
    stage_run_release(&r);

    /* a dropped record keeps its HTML and its format */
    stage_run_format(&r, "extract", NULL, "html", "<script>x</script>");
    CHECK(r.verdict == STAGE_DROP);
    CHECK_STR(r.reason, "empty_html");
    CHECK_STR(r.text, "<script>x</script>");
    CHECK_STR(obj_str(r.obj, "format"), "html");
    stage_run_release(&r);
}

TEST(bad_utf8)
{
    struct stage_run r;

    stage_run_format(&r, "extract", NULL, "html",
                     "<p>ok \xff\xfe bad \xe4\xb8 end</p>");
    CHECK(r.verdict == STAGE_KEEP);
    CHECK(r.text && utf8_valid(r.text, strlen(r.text)));
    CHECK(r.text && strstr(r.text, "ok ") && strstr(r.text, " end"));
    stage_run_release(&r);
}

TEST(non_html_untouched)
{
    const char *html = "<!DOCTYPE html><p>looks like html</p>";
    struct stage_run r;

    stage_run(&r, "extract", NULL, html);
    CHECK(r.verdict == STAGE_KEEP);
    CHECK_STR(r.text, html);
    CHECK(cJSON_GetObjectItemCaseSensitive(r.obj, "meta") == NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(r.obj, "format") == NULL);
    stage_run_release(&r);

    stage_run_format(&r, "extract", NULL, "text", html);
    CHECK(r.verdict == STAGE_KEEP);
    CHECK_STR(r.text, html);
    CHECK_STR(obj_str(r.obj, "format"), "text");
    stage_run_release(&r);

    stage_run_format(&r, "extract", "{\"detect\": true}", "HTML",
                     "plain <b>words</b>");
    CHECK(r.verdict == STAGE_KEEP);
    CHECK_STR(r.text, "plain <b>words</b>");
    stage_run_release(&r);
}

TEST(detect)
{
    struct stage_run r;

    stage_run(&r, "extract", "{\"detect\": true}",
              "\n  <!doctype HTML><title>T</title><p>body</p>");
    CHECK(r.verdict == STAGE_KEEP);
    CHECK_STR(r.text, "T\n\nbody");
    CHECK_STR(obj_str(r.obj, "format"), "text");
    stage_run_release(&r);

    stage_run(&r, "extract", "{\"detect\": true}",
              "\xEF\xBB\xBF<HTML lang=zh><p>正文</p></HTML>");
    CHECK_STR(r.text, "正文");
    stage_run_release(&r);

    stage_run(&r, "extract", "{\"detect\": true}",
              "<?xml version=\"1.0\"?>\n<html><p>xhtml</p></html>");
    CHECK_STR(r.text, "xhtml");
    stage_run_release(&r);

    stage_run(&r, "extract", "{\"detect\": true}", "<htmlx>no</htmlx>");
    CHECK_STR(r.text, "<htmlx>no</htmlx>");
    stage_run_release(&r);

    stage_run(&r, "extract", "{\"detect\": true}", "text <html>later</html>");
    CHECK_STR(r.text, "text <html>later</html>");
    stage_run_release(&r);

    stage_run(&r, "extract", "{\"detect\": false}", "<html><p>x</p></html>");
    CHECK_STR(r.text, "<html><p>x</p></html>");
    stage_run_release(&r);

    stage_run(&r, "extract", "{\"detect\": true}", "<html><script>x</script>");
    CHECK(r.verdict == STAGE_DROP);
    CHECK_STR(r.reason, "empty_html");
    stage_run_release(&r);
}

TEST(config_errors)
{
    static const struct {
        const char *params, *msg;
    } bad[] = {
        {"{\"titel\": \"drop\"}", "unknown parameter 'titel'"},
        {"{\"title\": \"first\"}", "'title' must be one of"},
        {"{\"detect\": 1}", "'detect' must be true or false"},
        {"{\"min_chars\": 0}", "'min_chars' must be between"},
        {"{\"min_chars\": 1.5}", "'min_chars' must be an integer"},
        {"{\"max_link_density\": 1.5}", "'max_link_density' must be between"},
        {"{\"max_link_density\": \"half\"}", "must be a number"},
        {"{\"min_links\": 0}", "'min_links' must be between"},
        {"{\"max_depth\": 2}", "'max_depth' must be between"},
        {"{\"boilerplate_classes\": \"nav\"}", "must be an array of strings"},
        {"{\"boilerplate_classes\": [\"nav\", 3]}", "array of strings"},
        {"{\"boilerplate_classes\": [\"side-bar\"]}", "\"side-bar\""},
        {"{\"boilerplate_classes\": [\"\"]}", "non-empty words"},
    };
    struct stage_run r;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        stage_run_format(&r, "extract", bad[i].params, "html", "<p>x</p>");
        CHECK(r.init_rc == NH_EINVAL);
        CHECK(strstr(r.err.msg, "stages[0] (test): ") == r.err.msg);
        if (!strstr(r.err.msg, bad[i].msg))
            printf("  FAIL %s: got \"%s\"\n", bad[i].params, r.err.msg);
        CHECK(strstr(r.err.msg, bad[i].msg));
        stage_run_release(&r);
    }
    stage_run_format(
        &r, "extract",
        "{\"detect\": true, \"title\": \"meta\", \"min_chars\": 1, "
        "\"max_link_density\": 0.3, \"min_links\": 3, \"max_depth\": 100, "
        "\"boilerplate_classes\": [\"nav\"]}",
        "html", "<p>x</p>");
    CHECK(r.init_rc == 0 && r.verdict == STAGE_KEEP);
    stage_run_release(&r);
}

/* One worker's state across documents of very different sizes: the pool
 * is rewound and reused, big blocks freed. */
TEST(state_reuse)
{
    const struct stage_ops *ops = stage_find("extract");
    cJSON *p = cJSON_Parse("{\"op\": \"extract\"}");
    struct stage_ctx ctx;
    struct nh_error err;
    void *conf = NULL;
    char *big = repeat("<p>段落文字 paragraph text", 40000, "", NULL);
    const char *docs[] = {
        "<p>small</p>", big, "<p>small again</p>", big, "<div>", "<p>last</p>"};
    const char *want[] = {"small", NULL, "small again", NULL, NULL, "last"};
    size_t i;

    memset(&ctx, 0, sizeof(ctx));
    CHECK(ops->init(p, "stages[0] (extract)", &conf, &err) == 0);
    ctx.tstate = ops->thread_init(conf);
    for (i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
        struct doc d;
        const char *reason = NULL;
        int rc;

        memset(&d, 0, sizeof(d));
        d.obj = cJSON_CreateObject();
        cJSON_AddStringToObject(d.obj, "format", "html");
        d.id = d.source = "";
        strbuf_addstr(&d.text, docs[i]);
        rc = ops->apply(conf, &ctx, &d, &reason);
        if (want[i]) {
            CHECK(rc == STAGE_KEEP);
            CHECK_STR(d.text.buf, want[i]);
        } else if (docs[i] == big) {
            CHECK(rc == STAGE_KEEP);
            CHECK(d.text.len > 40000 * 25);
        } else {
            CHECK(rc == STAGE_DROP);
        }
        strbuf_release(&d.text);
        cJSON_Delete(d.obj);
    }
    ops->thread_free(ctx.tstate);
    strbuf_release(&ctx.scratch);
    strbuf_release(&ctx.scratch2);
    ops->free(conf);
    cJSON_Delete(p);
    free(big);
}

int
main(void)
{
    RUN(zh_debian_reference);
    RUN(zh_page);
    RUN(en_article);
    RUN(pre_whitespace);
    RUN(br_breaks);
    RUN(lists);
    RUN(tables);
    RUN(title_modes);
    RUN(entities);
    RUN(cjk_spacing);
    RUN(malformed);
    RUN(scripts_and_styles);
    RUN(deep_nesting);
    RUN(unclosed_links_counted_once);
    RUN(pathological_formatting);
    RUN(boilerplate_classes);
    RUN(link_density);
    RUN(empty_and_min_chars);
    RUN(record_fields);
    RUN(bad_utf8);
    RUN(non_html_untouched);
    RUN(detect);
    RUN(config_errors);
    RUN(state_reuse);
    return test_summary();
}
