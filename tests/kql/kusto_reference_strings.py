"""Kusto reference examples: string functions and operators, conversions, parsing.

Data for test_kql_reference_examples.py, in the form kusto_reference.py describes.
"""

from __future__ import annotations

from kusto_reference import ex

# --- strings -----------------------------------------------------------------------------------

P, C = "extract-function.md", "089cd9e04084fff31108cf28ecf670b75865d5d5"
ex("extract-month", P, C, r'''
let Dates = datatable(DateString: string)
[
    "15-12-2024",
    "21-07-2023",
    "10-03-2022"
];
Dates
| extend Month = extract(@"-(\d{2})-", 1, DateString, typeof(int))
| project DateString, Month
''', ["DateString", "Month"], [["15-12-2024", "12"], ["21-07-2023", "7"], ["10-03-2022", "3"]])
ex("extract-username", P, C, r'''
let Text = "User: JohnDoe, Email: johndoe@example.com, Age: 29";
print UserName = extract("User: ([^,]+)", 1, Text)
''', ["UserName"], [["JohnDoe"]])

P, C = "extract-all-function.md", "164a34c11d90c6e7c33e65ce4af7c00943b3794c"
_ID = ("The page's header writes ID for the column the query names Id (Kusto's names are "
       "case-sensitive; every other header on the page has the query's spelling)")
ex("extract-all-single-group", P, C, r'''
print Id="82b8be2d-dfa7-4bd1-8f63-24ad26d31449"
| extend guid_bytes = extract_all(@"([\da-f]{2})", Id) 
''', ["ID", "guid_bytes"], [["82b8be2d-dfa7-4bd1-8f63-24ad26d31449",
      '["82","b8","be","2d","df","a7","4b","d1","8f","63","24","ad","26","d3","14","49"]']],
   columns_fixed=(["Id", "guid_bytes"], _ID))
ex("extract-all-several-groups", P, C, r'''
print Id="82b8be2d-dfa7-4bd1-8f63-24ad26d31449"
| extend guid_bytes = extract_all(@"(\w)(\w+)(\w)", Id)
''', ["ID", "guid_bytes"], [["82b8be2d-dfa7-4bd1-8f63-24ad26d31449",
      '[["8","2b8be2","d"],["d","fa","7"],["4","bd","1"],["8","f6","3"],["2","4ad26d3144","9"]]']],
   columns_fixed=(["Id", "guid_bytes"], _ID))
ex("extract-all-subset-groups", P, C, r'''
print Id="82b8be2d-dfa7-4bd1-8f63-24ad26d31449"
| extend guid_bytes = extract_all(@"(\w)(\w+)(\w)", dynamic([1,3]), Id) 
''', ["ID", "guid_bytes"], [["82b8be2d-dfa7-4bd1-8f63-24ad26d31449",
      '[["8","d"],["d","7"],["4","1"],["8","3"],["2","9"]]']],
   columns_fixed=(["Id", "guid_bytes"], _ID))
ex("extract-all-named-groups", P, C, r'''
print Id="82b8be2d-dfa7-4bd1-8f63-24ad26d31449"
| extend guid_bytes = extract_all(@"(?P<first>\w)(?P<middle>\w+)(?P<last>\w)", dynamic(['first',2,'last']), Id) 
''', ["ID", "guid_bytes"], [["82b8be2d-dfa7-4bd1-8f63-24ad26d31449",
      '[["8","2b8be2","d"],["d","fa","7"],["4","bd","1"],["8","f6","3"],["2","4ad26d3144","9"]]']],
   columns_fixed=(["Id", "guid_bytes"], _ID))

P, C = "split-function.md", "261627aaf3522e491eb5b2e9842cb79116ef0041"
ex("split", P, C, r'''
print
    split("aa_bb", "_"),           // ["aa","bb"]
    split("aaa_bbb_ccc", "_", 1),  // ["bbb"]
    split("", "_"),                // [""]
    split("a__b", "_"),            // ["a","","b"]
    split("aabbcc", "bb")          // ["aa","cc"]
''', ["print_0", "print_1", "print_2", "print_3", "print4"],
   [['["aa","bb"]', '["bbb"]', '[""]', '["a","","b"]', '["aa","cc"]']],
   columns_fixed=(["print_0", "print_1", "print_2", "print_3", "print_4"],
                  "The page's header writes print4 for the fifth column; Kusto names unnamed print "
                  "columns print_0, print_1, ... as the page's other four headers show"))

P, C = "strcat-function.md", "0186510a14fa87ba1bec0c03c04a619884aa0634"
ex("strcat", P, C, r'''
print str = strcat("hello", " ", "world")
''', ["str"], [["hello world"]])
ex("strcat-multiline", P, C, r'''
print MultiLineString = strcat("Line 1\n", "Line 2\n", "Line 3")
''', ["MultiLineString"], [["Line 1\nLine 2\nLine 3"]],
   note="the page shows the cell's lines as a list (its 'expanded view')")

P, C = "substring-function.md", "bb51a710c507a09f77b3f5d149a736038ca40d4c"
# The page's examples are bare expressions with the result in a comment: each runs as `print`.
for _i, (_expr, _want) in enumerate([('substring("123456", 1)', "23456"), ('substring("123456", 2, 2)', "34"),
                                     ('substring("ABCD", 0, 2)', "AB"), ('substring("123456", -2, 2)', "56")]):
    ex(f"substring-{_i}", P, C, f"print {_expr}", ["print_0"], [[_want]],
       note="the page writes the expression alone, its result in a comment")

P, C = "trim-function.md", "1c7d0221dde50ed7f78941a08767202abfc3ffc2"
ex("trim-substring", P, C, r'''
let string_to_trim = @"--https://bing.com--";
let substring = "--";
print string_to_trim = string_to_trim, trimmed_string = trim(substring,string_to_trim)
''', ["string_to_trim", "trimmed_string"], [["--https://bing.com--", "https://bing.com"]],
   note="the page's cells are in backticks")
ex("trim-non-alphanumeric", P, C, r'''
range x from 1 to 5 step 1
| project str = strcat("-  ","Te st",x,@"// $")
| extend trimmed_str = trim(@"[^\w]+",str)
''', ["str", "trimmed_str"], [[f"-  Te st{i}// $", f"Te st{i}"] for i in range(1, 6)])
ex("trim-whitespace", P, C, r'''
let string_to_trim = @"    Hello, world!    ";
let substring = @"\s+";
print
    string_to_trim = string_to_trim,
    trimmed_string = trim(substring, string_to_trim)
''', ["string_to_trim", "trimmed_string"], [["    Hello, world!    ", "Hello, world!"]],
   rows_fixed=([["    Hello, world!    ", "Hello, world!"]],
               "markdown strips a cell's leading and trailing blanks (the page's cell keeps them, with "
               "a stray tab); the query's literal has four spaces each side"))

P, C = "replace-string-function.md", "e3471c82cd0d9425524927b227c157711256ed61"
ex("replace-string", P, C, r'''
range x from 1 to 5 step 1
| extend str=strcat('Number is ', tostring(x))
| extend replaced=replace_string(str, 'is', 'was')
''', ["x", "str", "replaced"], [[str(i), f"Number is {i}.000000", f"Number was {i}.000000"] for i in range(1, 6)],
   skip="The page shows tostring(x) of range's long x as '1.000000'; tostringfunction.md documents "
        "tostring(123) == \"123\" as true, and strcat-function.md says non-strings are converted to string, "
        "so the table is of some older real-typed range")

P, C = "replace-regex-function.md", "08634a5ceb6ca6ef2e22828628c1b7cf6e5b6280"
ex("replace-regex", P, C, r'''
range x from 1 to 5 step 1
| extend str=strcat('Number is ', tostring(x))
| extend replaced=replace_regex(str, @'is (\d+)', @'was: \1')
''', ["x", "str", "replaced"], [[str(i), f"Number is {i}.000000", f"Number was: {i}.000000"] for i in range(1, 6)],
   skip="The same table as replace-string-function.md's: tostring(1) of a long is '1' "
        "(tostringfunction.md: tostring(123) == \"123\"), not '1.000000'")

P, C = "parse-url-function.md", "85351b30116da41b75c5a4e8a5b7f5730d81ab08"
ex("parse-url", P, C, r'''
print Result=parse_url("scheme://username:password@host:1234/this/is/a/path?k1=v1&k2=v2#fragment")
''', ["Result"], [['{"Scheme":"scheme", "Host":"host", "Port":"1234", "Path":"this/is/a/path", "Username":"username", '
                   '"Password":"password", "Query Parameters":"{"k1":"v1", "k2":"v2"}", "Fragment":"fragment"}']],
   rows_fixed=([['{"Scheme":"scheme", "Host":"host", "Port":"1234", "Path":"this/is/a/path", "Username":"username", '
                 '"Password":"password", "Query Parameters":{"k1":"v1", "k2":"v2"}, "Fragment":"fragment"}']],
               "the page's cell is not JSON: it quotes the nested Query Parameters object; read as the object "
               "it writes (the page's Returns: a dynamic with the URL parts, Query Parameters among them)"))

P, C = "parse-path-function.md", "3b388b6ee5ec532cbe35a916647aa30d182854c2"
ex("parse-path", P, C, r'''
datatable(p:string) 
[
    @"C:\temp\file.txt",
    @"temp\file.txt",
    "file://C:/temp/file.txt:some.exe",
    @"\\shared\users\temp\file.txt.gz",
    "/usr/lib/temp/file.txt"
]
| extend path_parts = parse_path(p)
''', ["p", "path_parts"], [
    [r"C:\temp\file.txt", r'{"Scheme":"","RootPath":"C:","DirectoryPath":"C:\\temp","DirectoryName":"temp","Filename":"file.txt","Extension":"txt","AlternateDataStreamName":""}'],
    [r"temp\file.txt", r'{"Scheme":"","RootPath":"","DirectoryPath":"temp","DirectoryName":"temp","Filename":"file.txt","Extension":"txt","AlternateDataStreamName":""}'],
    ["file://C:/temp/file.txt:some.exe", r'{"Scheme":"file","RootPath":"C:","DirectoryPath":"C:/temp","DirectoryName":"temp","Filename":"file.txt","Extension":"txt","AlternateDataStreamName":"some.exe"}'],
    [r"\\shared\users\temp\file.txt.gz", r'{"Scheme":"","RootPath":"","DirectoryPath":"\\\\shared\\users\\temp","DirectoryName":"temp","Filename":"file.txt.gz","Extension":"gz","AlternateDataStreamName":""}'],
    ["/usr/lib/temp/file.txt", r'{"Scheme":"","RootPath":"","DirectoryPath":"/usr/lib/temp","DirectoryName":"temp","Filename":"file.txt","Extension":"txt","AlternateDataStreamName":""}'],
])

P, C = "parse-command-line-function.md", "26bb9176022885b87525170a0472cc39ad3aa9cc"
ex("parse-command-line", P, C, r'''
print parse_command_line("echo \"hello world!\"", "windows")
''', ["Result"], [['["echo","hello world!"]']],
   columns_fixed=(None, "the page's header says Result, a name the query does not give: only the cell "
                        "is compared"))

P, C = "indexof-function.md", "261627aaf3522e491eb5b2e9842cb79116ef0041"
ex("indexof", P, C, r'''
print
 idx1 = indexof("abcdefg","cde")    // lookup found in input string
 , idx2 = indexof("abcdefg","cde",1,4) // lookup found in researched range 
 , idx3 = indexof("abcdefg","cde",1,2) // search starts from index 1, but stops after 2 chars, so full lookup can't be found
 , idx4 = indexof("abcdefg","cde",3,4) // search starts after occurrence of lookup
 , idx5 = indexof("abcdefg","cde",-5)  // negative start index
 , idx6 = indexof(1234567,5,1,4)       // two first parameters were forcibly casted to strings "12345" and "5"
 , idx7 = indexof("abcdefg","cde",2,-1)  // lookup found in input string
 , idx8 = indexof("abcdefgabcdefg", "cde", 1, 10, 2)   // lookup found in input range
 , idx9 = indexof("abcdefgabcdefg", "cde", 1, -1, 3)   // the third occurrence of lookup is not in researched range
''', [f"idx{i}" for i in range(1, 10)], [["2", "2", "-1", "-1", "2", "4", "2", "9", "-1"]])

P, C = "strlen-function.md", "6d0f9da30e31574bdac6dabbd771e56e83b98c94"
ex("strlen-letters", P, C, '''
print length = strlen("hello")
''', ["length"], [["5"]])
ex("strlen-symbols", P, C, '''
print length = strlen("⒦⒰⒮⒯⒪")
''', ["length"], [["5"]])
ex("strlen-grapheme", P, C, '''
print strlen('C\u0327edilla') // the first character is a grapheme cluster
                        // that requires 2 code points to represent
''', ["length"], [["8"]],
   columns_fixed=(None, "the page's header says length, a name the query does not give (the examples above "
                        "it write `print length = ...`): only the cell is compared"),
   note="the page's Ç is C and a combining cedilla, the two code points its comment names")

P, C = "countof-function.md", "97b502ccdb22aa3e22c37cd7e2dce7c87cb30830"
# The page's examples are a table of calls and results: each call runs as `print`.
for _i, (_expr, _want) in enumerate([('countof("aaa", "a")', "3"), ('countof("aaaa", "aa")', "3"),
                                     ('countof("ababa", "ab", "normal")', "2"), ('countof("ababa", "aba")', "2"),
                                     ('countof("ababa", "aba", "regex")', "1"),
                                     ('countof("abcabc", "a.c", "regex")', "2")]):
    ex(f"countof-{_i}", P, C, f"print {_expr}", ["print_0"], [[_want]],
       note="the page's examples are a table of calls and results")

P, C = "url-decode-function.md", "261627aaf3522e491eb5b2e9842cb79116ef0041"
ex("url-decode", P, C, '''
let url = @'https%3a%2f%2fwww.bing.com%2f';
print original = url, decoded = url_decode(url)
''', ["original", "decoded"], [["https%3a%2f%2fwww.bing.com%2f", "https://www.bing.com/"]])

P, C = "base64-decode-tostring-function.md", "050a24f247660ad1ddd1258a8ef9b2466511e904"
ex("base64-decode-tostring", P, C, '''
print Quine=base64_decode_tostring("S3VzdG8=")
''', ["Quine"], [["Kusto"]])
ex("base64-decode-tostring-invalid-utf8", P, C, '''
print Empty=base64_decode_tostring("U3RyaW5n0KHR0tGA0L7Rh9C60LA=")
''', ["Empty"], [[""]])

P, C = "datatypes-string-operators.md", "d68634679853d09dd3dabff69e75881b76439e1f"
# The page's table of string operators gives, for each, an example that "yields true".
_STRING_OPERATOR_EXAMPLES = [
    ("==", '"aBc" == "aBc"'), ("!=", '"abc" != "ABC"'), ("=~", '"abc" =~ "ABC"'), ("!~", '"aBc" !~ "xyz"'),
    ("contains", '"FabriKam" contains "BRik"'), ("!contains", '"Fabrikam" !contains "xyz"'),
    ("contains_cs", '"FabriKam" contains_cs "Kam"'), ("!contains_cs", '"Fabrikam" !contains_cs "Kam"'),
    ("endswith", '"Fabrikam" endswith "Kam"'), ("!endswith", '"Fabrikam" !endswith "brik"'),
    ("endswith_cs", '"Fabrikam" endswith_cs "kam"'), ("!endswith_cs", '"Fabrikam" !endswith_cs "brik"'),
    ("has", '"North America" has "america"'), ("!has", '"North America" !has "amer"'),
    ("has_all", '"North and South America" has_all("south", "north")'),
    ("has_any", '"North America" has_any("south", "north")'),
    ("has_cs", '"North America" has_cs "America"'), ("!has_cs", '"North America" !has_cs "amer"'),
    ("hasprefix", '"North America" hasprefix "ame"'), ("!hasprefix", '"North America" !hasprefix "mer"'),
    ("hasprefix_cs", '"North America" hasprefix_cs "Ame"'), ("!hasprefix_cs", '"North America" !hasprefix_cs "CA"'),
    ("hassuffix", '"North America" hassuffix "ica"'), ("!hassuffix", '"North America" !hassuffix "americ"'),
    ("hassuffix_cs", '"North America" hassuffix_cs "ica"'), ("!hassuffix_cs", '"North America" !hassuffix_cs "icA"'),
    ("in", '"abc" in ("123", "345", "abc")'), ("!in", '"bca" !in ("123", "345", "abc")'),
    ("in~", '"Abc" in~ ("123", "345", "abc")'), ("!in~", '"bCa" !in~ ("123", "345", "ABC")'),
    ("matches regex", '"Fabrikam" matches regex "b.*k"'),
    ("startswith", '"Fabrikam" startswith "fab"'), ("!startswith", '"Fabrikam" !startswith "kam"'),
    ("startswith_cs", '"Fabrikam" startswith_cs "Fab"'), ("!startswith_cs", '"Fabrikam" !startswith_cs "fab"'),
    ("has_ipv4", 'has_ipv4("Source address is 10.1.2.3:1234", "10.1.2.3")'),
    ("has_ipv4_prefix", 'has_ipv4_prefix("Source address is 10.1.2.3:1234", "10.1.2.")'),
    ("has_any_ipv4", 'has_any_ipv4("Source address is 10.1.2.3:1234", dynamic(["10.1.2.3", "127.0.0.1"]))'),
    ("has_any_ipv4_prefix",
     'has_any_ipv4_prefix("Source address is 10.1.2.3:1234", dynamic(["10.1.2.", "127.0.0."]))'),
]
for _op, _expr in _STRING_OPERATOR_EXAMPLES:
    ex(f"string-operator {_op}", P, C, f"print {_expr}", ["print_0"], [["true"]],
       note="the page's table gives this expression as its operator's example that yields true")

P, C = "tostringfunction.md", "070b50acafeefcd3a6859d242606d8f4f268cc30"
ex("tostring", P, C, 'print tostring(123) == "123"', ["print_0"], [["true"]],
   note="the page writes the expression alone; it is its example of a true comparison")

P, C = "toint-function.md", "524b7cdbf25ab84ce2a50f2ecb6a71d660d97592"
ex("toint-string", P, C, '''
print toint("123") == 123
|project Integer = print_0
''', ["Integer"], [["true"]])
ex("toint-truncates", P, C, '''
print toint(2.3)
|project Integer = print_0
''', ["Integer"], [["2"]])

P, C = "tolong-function.md", "524b7cdbf25ab84ce2a50f2ecb6a71d660d97592"
ex("tolong", P, C, 'print tolong("123") == 123', ["print_0"], [["true"]],
   note="the page writes the expression alone; it is its example of a true comparison")

P, C = "print-operator.md", "146ad8477d7eeee9ffbe22223f712f644eaff658"
ex("print-sum-and-variable", P, C, """
print 0 + 1 + 2 + 3 + 4 + 5, x = "Wow!"
""", ["print_0", "x"], [["15", "Wow!"]])
ex("print-strcat", P, C, """
print banner=strcat("Hello", ", ", "World!")
""", ["banner"], [["Hello, World!"]])

P, C = "todouble-function.md", "24b08d028d82b6b3fad1e8a66fdcac75e7cd36e8"
ex("todouble", P, C, 'print todouble("123.4") == 123.4', ["print_0"], [["true"]],
   note="the page writes the expression alone; it is its example of a true comparison")

P, C = "tobool-function.md", "2019617d3a86ae4daeead2f91e4c5b63dc72a6be"
for _i, _expr in enumerate(['tobool("true") == true', 'tobool("false") == false', "tobool(1) == true",
                            "tobool(123) == true"]):
    ex(f"tobool-{_i}", P, C, f"print {_expr}", ["print_0"], [["true"]],
       note="the page writes the expressions alone, each a true comparison")

P, C = "todatetime-function.md", "0af9d3c27c9af9af25a037330630a1db0e4a5d6b"
ex("todatetime-compare", P, C, """
print todatetime('12-02-2022') == datetime('12-02-2022')
""", ["print_0"], [["true"]])

P, C = "totimespan-function.md", "2ed314770b875c21a2b0de490b5cf4de213978e0"
ex("totimespan", P, C, 'print totimespan("0.00:01:00") == time(1min)', ["print_0"], [["true"]],
   note="the page writes the expression alone; it is its example of a true comparison")

P, C = "parse-json-function.md", "0b1bb346794540fe6fcdd33b0d08811721f61deb"
ex("parse-json-duration", P, C, r'''
datatable(context_custom_metrics:string)
[
    '{"duration":{"value":118.0,"count":5.0,"min":100.0,"max":150.0,"stdDev":0.0,"sampledValue":118.0,"sum":118.0}}'
]
| extend d = parse_json(context_custom_metrics)
| extend duration_value = d.duration.value, duration_min = d.duration.min
''', ["context_custom_metrics", "d", "duration_value", "duration_min"], [[
    '{"duration":{"value":118.0,"count":5.0,"min":100.0,"max":150.0,"stdDev":0.0,"sampledValue":118.0,"sum":118.0}}',
    '{"duration":{"value":118,"count":5,"min":100,"max":150,"stdDev":0,"sampledValue":118,"sum":118}}',
    "118", "100"]])
ex("parse-json-nested-string", P, C, r'''
let d='{"a":123, "b":"{\\"c\\":456}"}';
print d
''', ["print_0"], [[r'{"a":123, "b":"{\"c\":456}"}']])
ex("parse-json-twice", P, C, r'''
let d='{"a":123, "b":"{\\"c\\":456}"}';
print d_b_c=parse_json(tostring(parse_json(d).b)).c
''', ["d_b_c"], [["456"]])

P, C = "array-length-function.md", "24b08d028d82b6b3fad1e8a66fdcac75e7cd36e8"
ex("array-length", P, C, '''
print array_length(dynamic([1, 2, 3, "four"]))
''', ["print_0"], [["4"]])

P, C = "extract-all-function.md", "164a34c11d90c6e7c33e65ce4af7c00943b3794c"
ex("extract-all-intro", P, C, r'''
print extract_all(@"(\d+)", "a set of numbers: 123, 567 and 789") // results with the dynamic array ["123", "567", "789"]
''', ["print_0"], [['["123", "567", "789"]']], note="the page gives the result in the query's comment")

P, C = "pack-array-function.md", "6d0f9da30e31574bdac6dabbd771e56e83b98c94"
ex("pack-array", P, C, '''
range x from 1 to 3 step 1
| extend y = x * 2
| extend z = y * 2
| project pack_array(x, y, z)
''', ["Column1"], [["[1,2,4]"], ["[2,4,8]"], ["[3,6,12]"]])
ex("pack-array-mixed-types", P, C, '''
range x from 1 to 3 step 1
| extend y = tostring(x * 2)
| extend z = (x * 2) * 1s
| project pack_array(x, y, z)
''', ["Column1"], [['[1,"2","00:00:02"]'], ['[2,"4","00:00:04"]'], ['[3,"6","00:00:06"]']])

P, C = "bag-keys-function.md", "1c7d0221dde50ed7f78941a08767202abfc3ffc2"
# The page writes its dynamic cells as indented JSON with <br> for the line breaks.
ex("bag-keys", P, C, '''
datatable(index:long, d:dynamic) [
    1, dynamic({'a':'b', 'c':123}), 
    2, dynamic({'a':'b', 'c':{'d':123}}),
    3, dynamic({'a':'b', 'c':[{'d':123}]}),
    4, dynamic(null),
    5, dynamic({}),
    6, dynamic('a'),
    7, dynamic([])
]
| extend keys = bag_keys(d)
''', ["index", "d", "keys"], [
    ["1", '{<br>  "a": "b",<br>  "c": 123<br>}', '[<br>  "a",<br>  "c"<br>]'],
    ["2", '{<br>  "a": "b",<br>  "c": {<br>    "d": 123<br>  }<br>}', '[<br>  "a",<br>  "c"<br>]'],
    ["3", '{<br>  "a": "b",<br>  "c": [<br>    {<br>      "d": 123<br>    }<br>  ]<br>}', '[<br>  "a",<br>  "c"<br>]'],
    ["4", "", ""],
    ["5", "{}", "[]"],
    ["6", "a", ""],
    ["7", "[]", ""],
], ordered=True)

P, C = "bag-merge-function.md", "05398cc364dc84aaf15958dcef0179ae0ec16f7f"
ex("bag-merge", P, C, '''
print result = bag_merge(dynamic({ 'A1':12, 'B1':2, 'C1':3}), dynamic({ 'A2':81, 'B2':82, 'A1':1}))
''', ["result"], [['{<br>  "A1": 12,<br>  "B1": 2,<br>  "C1": 3,<br>  "A2": 81,<br>  "B2": 82<br>}']],
   note="the page writes the result as indented JSON in a code span; its line breaks are written <br> here")

P, C = "datatypes-string-operators.md", "011ed6a9ac251c2a75565e76955f3def0805b332"
# An earlier version of the same table gave other examples for in~ and !in~.
for _op, _expr in [("in~", '"abc" in~ ("123", "345", "ABC")'), ("!in~", '"bca" !in~ ("123", "345", "ABC")')]:
    ex(f"string-operator {_op} (2020)", P, C, f"print {_expr}", ["print_0"], [["true"]],
       note="the page's table gives this expression as its operator's example that yields true")
