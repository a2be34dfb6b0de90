"""``.dockerignore`` and Go's ``filepath.Match``: the tables of Go, of moby/patternmatcher, and
the examples of the Docker docs ("Build context: .dockerignore files")."""

import pytest

from sandbox.builder.dockerignore import (DockerignoreError, Matcher, _Pattern, go_clean,
                                        parse_patterns, read_patterns)
from sandbox.builder.pathmatch import BadPattern, filepath_match, has_wildcards

BAD = "bad"

# Go's src/path/filepath/match_test.go, matchTests: (pattern, name, matches or BAD)
GO_MATCH = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*", "abc", True), ("a*", "ab/c", False), ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True),
    ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True),
    ("[\\-x]", "a", False), ("[]a]", "]", BAD), ("[-]", "-", BAD), ("[x-]", "x", BAD),
    ("[x-]", "-", BAD), ("[x-]", "z", BAD), ("[-x]", "x", BAD), ("[-x]", "-", BAD),
    ("[-x]", "a", BAD), ("\\", "a", BAD), ("[a-b-c]", "a", BAD), ("[", "a", BAD),
    ("[^", "a", BAD), ("[^bc", "a", BAD), ("a[", "a", BAD), ("a[", "ab", BAD),
    ("a[", "x", BAD), ("a/b[", "x", BAD), ("*x", "xxx", True),
]


@pytest.mark.parametrize("pattern,name,expected", GO_MATCH)
def test_filepath_match_as_go(pattern, name, expected):
    if expected == BAD:
        with pytest.raises(BadPattern):
            filepath_match(pattern, name)
    else:
        assert filepath_match(pattern, name) is expected


# moby/patternmatcher TestMatch: Go's table through the matcher, whose parent
# matching makes "a*" exclude "ab/c" (its parent "ab" matches).
@pytest.mark.parametrize("pattern,name,expected",
                         [(p, n, True if (p, n) == ("a*", "ab/c") else e) for p, n, e in GO_MATCH])
def test_matcher_on_go_table(pattern, name, expected):
    if expected == BAD:
        with pytest.raises(DockerignoreError):
            Matcher([pattern])
    else:
        assert Matcher([pattern]).excluded(name) is expected


# moby/patternmatcher TestMatches (MatchesOrParentMatches): (pattern, path, excluded)
MOBY_MATCHES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True),
    ("**", "dir/file", True), ("**/", "dir/file", True), ("**", "dir/file/", True),
    ("**/", "dir/file/", True), ("**/**", "dir/file", True), ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True), ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True), ("**file", "file", True),
    ("**file", "dir/file", True), ("**/file", "dir/file", True), ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True), ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True), ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True), ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True), ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True), ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True), (".*", ".foo", True), (".*", "foo", False),
    ("abc.def", "abcdef", False), ("abc.def", "abc.def", True), ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False), ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False),
    ("abc/**", "abc/def", True), ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False), ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]


@pytest.mark.parametrize("pattern,path,expected", MOBY_MATCHES)
def test_moby_matches(pattern, path, expected):
    assert Matcher([pattern]).excluded(path) is expected


def test_the_context_itself_is_never_excluded():
    # moby's table also has ("**", "/") and ("**/", "/") as matches; here a path is
    # relative to the context, and "/" or "." is the context itself, which Docker's
    # Matches() refuses to exclude ("don't let them exclude everything").
    assert not Matcher(["**"]).excluded("/")
    assert not Matcher(["**"]).excluded(".")


MOBY_MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    # TestWildcardMatches ... TestExclusionPatternMatchesPatternAfter
    (["*"], "fileutils.go", True),
    (["*.go"], "fileutils.go", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    ([], "/any/path/there", False),
]


@pytest.mark.parametrize("patterns,path,expected", MOBY_MULTI)
def test_moby_multi_pattern(patterns, path, expected):
    assert Matcher(patterns).excluded(path) is expected


# moby TestCompile: the kind each pattern compiles to
@pytest.mark.parametrize("pattern,kind", [
    ("*", "regex"), ("file*", "regex"), ("*file", "regex"), ("a*/b", "regex"),
    ("**", "suffix"), ("**/**", "regex"), ("dir/**", "prefix"), ("**/dir", "suffix"),
    ("**/dir2/*", "regex"), ("**/dir2/**", "regex"), ("**file", "suffix"),
    ("**/file*txt", "regex"), ("**/**/*.txt", "regex"), ("a[b-d]e", "regex"), (".*", "regex"),
    ("abc.def", "exact"), ("abc?def", "regex"), ("**/foo/bar", "suffix"),
    ("a(b)c/def", "exact"), ("a.|)$(}+{bc", "exact"),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"),
])
def test_compile_kind(pattern, kind):
    assert _Pattern(go_clean(pattern), False).kind == kind


def test_patterns_are_trimmed_and_empty_ones_dropped():
    assert [p.text for p in Matcher(["docs", "config", ""]).patterns] == ["docs", "config"]
    matcher = Matcher(["docs", "  !docs/README.md  "])
    assert matcher.patterns[1].exception and matcher.patterns[1].text == "docs/README.md"


@pytest.mark.parametrize("patterns", [["!"], ["[Local-Only]/"], ["["]])
def test_bad_patterns_are_refused_with_the_pattern_named(patterns):
    # "[Local-Only]/" passes Go's Match but not the regexp (l-O runs backwards): moby
    # fails on the first path it checks; here, before any file is read.
    with pytest.raises(DockerignoreError, match="exclusion pattern|bad .dockerignore pattern"):
        Matcher(patterns)


def test_read_all_as_ignorefile():  # moby/patternmatcher ignorefile TestReadAll
    content = ("test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
               "! /inverted/abs/path\n!\n! ")
    assert parse_patterns(content) == ["test1", "test2", "a/file/here", "lastfile",
                                       "!inverted/abs/path", "!", "!"]


def test_cleaning_bom_and_comments():
    assert parse_patterns("\ufeff# c\n  #not a comment\na//b/../c/\n./d\n/\n") == \
        ["#not a comment", "a/c", "d", "/"]


def test_docs_example_temp_patterns():
    matcher = Matcher(parse_patterns("# comment\n*/temp*\n*/*/temp*\ntemp?\n"))
    for path in ("somedir/temporary.txt", "somedir/temp", "somedir/subdir/temporary.txt",
                 "tempa", "tempb"):
        assert matcher.excluded(path), path
    for path in ("temporary.txt", "temp", "a/b/c/temp.txt"):
        assert not matcher.excluded(path), path


def test_docs_example_double_star():
    assert Matcher(["**/*.go"]).excluded("a/b/c/main.go")
    assert Matcher(["**/*.go"]).excluded("main.go")


def test_docs_examples_exceptions_last_one_wins():
    first = Matcher(["*.md", "!README.md"])
    assert first.excluded("CHANGES.md") and not first.excluded("README.md")
    second = Matcher(["*.md", "!README*.md", "README-secret.md"])
    assert second.excluded("README-secret.md") and not second.excluded("README-x.md")
    third = Matcher(["*.md", "README-secret.md", "!README*.md"])
    assert not third.excluded("README-secret.md") and third.excluded("notes.md")


def test_docs_pattern_dot_is_ignored():
    assert not Matcher(["."]).excluded("anything")


def test_may_include_below():
    matcher = Matcher(["secrets", "!secrets/README.md", "node_modules"])
    assert matcher.may_include_below("secrets")
    assert not matcher.may_include_below("node_modules")
    assert Matcher(["build", "!**/*.keep"]).may_include_below("build/deep")
    assert not Matcher(["a", "!b/c"]).may_include_below("a")
    assert Matcher(["*", "!*/keep"]).may_include_below("x")


def test_read_patterns_prefers_the_dockerfile_own_ignore_file(tmp_path):
    (tmp_path / ".dockerignore").write_text("*.log\n")
    assert read_patterns(tmp_path) == ["*.log"]
    assert read_patterns(tmp_path, tmp_path / "Dockerfile") == ["*.log"]
    build = tmp_path / "build"
    build.mkdir()
    (build / "app.Dockerfile.dockerignore").write_text("!keep.log\n/secret\n")
    assert read_patterns(tmp_path, build / "app.Dockerfile") == ["!keep.log", "secret"]


def test_no_ignore_file_means_no_patterns(tmp_path):
    assert read_patterns(tmp_path) == []


@pytest.mark.parametrize("path,expected", [
    ("*.go", True), ("a?", True), ("arr[[]0].txt", True), ("plain/file.txt", False),
    ("a\\*b", False), ("a\\[", False),
])
def test_has_wildcards(path, expected):
    assert has_wildcards(path) is expected
