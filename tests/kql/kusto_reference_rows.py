"""Kusto reference examples: window functions over rows, top-nested, joins, lookup, union.

Data for test_kql_reference_examples.py, in the form kusto_reference.py describes.
"""

from __future__ import annotations

from kusto_reference import ex

# --- window functions, top-nested --------------------------------------------------------------

P, C = "row-cumsum-function.md", "441f9f9a4ac079b09ffd17304409b02a29a2607a"
ex("row-cumsum", P, C, '''
datatable (a:long) [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10
]
| where a%2==0
| serialize cs=row_cumsum(a)
''', ["a", "cs"], [["2", "2"], ["4", "6"], ["6", "12"], ["8", "20"], ["10", "30"]])
ex("row-cumsum-restart", P, C, '''
datatable (name:string, month:int, salary:long)
[
    "Alice", 1, 1000,
    "Bob",   1, 1000,
    "Alice", 2, 2000,
    "Bob",   2, 1950,
    "Alice", 3, 1400,
    "Bob",   3, 1450,
]
| order by name asc, month asc
| extend total=row_cumsum(salary, name != prev(name))
''', ["name", "month", "salary", "total"],
   [["Alice", "1", "1000", "1000"], ["Alice", "2", "2000", "3000"], ["Alice", "3", "1400", "4400"],
    ["Bob", "1", "1000", "1000"], ["Bob", "2", "1950", "2950"], ["Bob", "3", "1450", "4400"]])

P, C = "top-nested-operator.md", "035dec180472139d215eae953d27dac87dbda3bf"
ex("top-nested-latest-per-identity", P, C, '''
datatable(id: string, timestamp: datetime, otherInformation: string) // Create a source datatable.
[
    "Barak", datetime(2015-01-01), "1",
    "Barak", datetime(2016-01-01), "2",
    "Barak", datetime(2017-01-20), "3",
    "Donald", datetime(2017-01-20), "4",
    "Donald", datetime(2017-01-18), "5",
    "Donald", datetime(2017-01-19), "6"
]
| top-nested of id by Ignore0=max(1),                     // Partition the data by each unique value of id.
  top-nested 2 of timestamp by Ignore1=max(timestamp),    // Get the 2 most recent events for each state.
  top-nested of otherInformation by Ignore2=max(1)        // Append otherInformation for each event.
| project-away Ignore0, Ignore1, Ignore2                  // Remove the unnecessary aggregation columns.
''', ["id", "timestamp", "otherInformation"],
   [["Barak", "2016-01-01T00:00:00Z", "2"], ["Donald", "2017-01-19T00:00:00Z", "6"],
    ["Barak", "2017-01-20T00:00:00Z", "3"], ["Donald", "2017-01-20T00:00:00Z", "4"]],
   ordered=False)  # no sort follows top-nested, whose output is not serialized (serialize-operator.md)

# --- join flavours ----------------------------------------------------------------------------

# serialize-operator.md: the output of join is not serialized, so the pages' row order is not fixed.
_XY = '''
let X = datatable(Key:string, Value1:long)
[
    'a',1,
    'b',2,
    'b',3,
    'c',4
];
let Y = datatable(Key:string, Value2:long)
[
    'b',10,
    'c',20,
    'c',30,
    'd',40
];
'''
_JOIN_COLUMNS = ["Key", "Value1", "Key1", "Value2"]

P, C = "join-inner.md", "00e71a7b06552423d7f49837c857ff31873270f2"
ex("join-inner", P, C, '''
let X = datatable(Key:string, Value1:long)
[
    'a',1,
    'b',2,
    'b',3,
    'k',5,
    'c',4
];
let Y = datatable(Key:string, Value2:long)
[
    'b',10,
    'c',20,
    'c',30,
    'd',40,
    'k',50
];
X | join kind=inner Y on Key
''', _JOIN_COLUMNS, [["b", "3", "b", "10"], ["b", "2", "b", "10"], ["c", "4", "c", "20"], ["c", "4", "c", "30"],
                     ["k", "5", "k", "50"]], ordered=False)

P, C = "join-leftouter.md", "02850bd06005d8d648465fde08161dd06688416f"
ex("join-leftouter", P, C, _XY + "X | join kind=leftouter Y on Key", _JOIN_COLUMNS,
   [["a", "1", "", ""], ["b", "2", "b", "10"], ["b", "3", "b", "10"], ["c", "4", "c", "20"], ["c", "4", "c", "30"]],
   ordered=False)

P, C = "join-fullouter.md", "02850bd06005d8d648465fde08161dd06688416f"
ex("join-fullouter", P, C, _XY + "X | join kind=fullouter Y on Key", _JOIN_COLUMNS,
   [["a", "1", "", ""], ["b", "2", "b", "10"], ["b", "3", "b", "10"], ["c", "4", "c", "20"], ["c", "4", "c", "30"],
    ["", "", "d", "40"]], ordered=False)

P, C = "join-rightouter.md", "008f5dcea5b1d2bb53c0b8dce2dc4a03ff2e413a"
ex("join-rightouter", P, C, _XY + "X | join kind=rightouter Y on Key", _JOIN_COLUMNS,
   [["b", "2", "b", "10"], ["b", "3", "b", "10"], ["c", "4", "c", "20"], ["c", "4", "c", "30"], ["", "", "d", "40"]],
   ordered=False)

P, C = "join-leftanti.md", "02850bd06005d8d648465fde08161dd06688416f"
ex("join-leftanti", P, C, _XY + "X | join kind=leftanti Y on Key", ["Key", "Value1"], [["a", "1"]])

P, C = "join-leftsemi.md", "02850bd06005d8d648465fde08161dd06688416f"
ex("join-leftsemi", P, C, _XY + "X | join kind=leftsemi Y on Key", ["Key", "Value1"],
   [["b", "2"], ["b", "3"], ["c", "4"]], ordered=False)

P, C = "join-rightanti.md", "02850bd06005d8d648465fde08161dd06688416f"
ex("join-rightanti", P, C, _XY + "X | join kind=rightanti Y on Key", ["Key", "Value1"], [["a", "1"]],
   skip="the page's output is the leftanti page's table (Key, Value1: a, 1); its own Returns section says a "
        "rightanti join returns the right table's columns and the right records that match no left record, "
        "which here is Key, Value2: d, 40 (the evaluator's answer), as join-operator.md's table of flavours says too")

P, C = "join-innerunique.md", "02850bd06005d8d648465fde08161dd06688416f"
ex("join-innerunique-default", P, C, _XY + "X | join Y on Key", _JOIN_COLUMNS,
   [["b", "2", "b", "10"], ["c", "4", "c", "20"], ["c", "4", "c", "30"]], ordered=False)
_T1T2 = '''
let t1 = datatable(key: long, value: string)  
    [
    1, "val1.1",  
    1, "val1.2"  
];
let t2 = datatable(key: long, value: string)  
    [  
    1, "val1.3",
    1, "val1.4"  
];
t1
| join kind = innerunique
    t2
    on key
'''
ex("join-innerunique-first-output", P, C, _T1T2, ["key", "value", "key1", "value1"],
   [["1", "val1.1", "1", "val1.3"], ["1", "val1.1", "1", "val1.4"]], ordered=False,
   note="the page gives two outputs of this query and says both are correct (the left row kept is either)")
ex("join-innerunique-second-output", P, C, _T1T2.replace('"val1.3",\n', '"val1.3", \n'),
   ["key", "value", "key1", "value1"], [["1", "val1.2", "1", "val1.3"], ["1", "val1.2", "1", "val1.4"]],
   ordered=False,
   skip="the page gives two outputs of this query and says both are correct; the evaluator keeps the first "
        "left row (val1.1), the other output (join-innerunique-first-output) is compared")
ex("join-innerunique-filter-pushed-left", P, C, _T1T2.replace('"val1.3",\n', '"val1.3", \n') + '| where value == "val1.2"',
   ["key", "value", "key1", "value1"], [["1", "val1.2", "1", "val1.3"], ["1", "val1.2", "1", "val1.4"]],
   ordered=False,
   xfail="the evaluator deduplicates the left side first (keeping val1.1) and then filters, giving no rows; the "
         "page documents that the filter on the left column is pushed to the left side before the innerunique "
         "deduplication, so the query \"will always give the second result\" (the two val1.2 rows)")

P, C = "join-rightsemi.md", "02850bd06005d8d648465fde08161dd06688416f"
ex("join-rightsemi", P, C, _XY + "X | join kind=rightsemi Y on Key", ["Key", "Value1"], [["b", "2"], ["b", "3"], ["c", "4"]],
   skip="the page's output is the leftsemi page's table (Key, Value1: b 2, b 3, c 4); its own first sentence says "
        "a rightsemi join returns the right records that match a left record, with only the right side's columns, "
        "which here is Key, Value2: b 10, c 20, c 30 (the evaluator's answer), as join-operator.md's table of flavours says too (the page's own Returns line, \"All columns from the left table\", is the leftsemi one)")

# --- lookup, union -----------------------------------------------------------------------------

P, C = "lookup-operator.md", "2e7cee545229ba8ba0dee5834d3e5f7ac65bad46"
ex("lookup-leftouter", P, C, '''
let FactTable=datatable(Row:string,Personal:string,Family:string) [
  "1", "Bill",   "Gates",
  "2", "Bill",   "Clinton",
  "3", "Bill",   "Clinton",
  "4", "Steve",  "Ballmer",
  "5", "Tim",    "Cook"
];
let DimTable=datatable(Personal:string,Family:string,Alias:string) [
  "Bill",  "Gates",   "billg",
  "Bill",  "Clinton", "billc",
  "Steve", "Ballmer", "steveb",
  "Tim",   "Cook",    "timc"
];
FactTable
| lookup kind=leftouter DimTable on Personal, Family
''', ["Row", "Personal", "Family", "Alias"], [["1", "Bill", "Gates", "billg"], ["2", "Bill", "Clinton", "billc"],
                                             ["3", "Bill", "Clinton", "billc"], ["4", "Steve", "Ballmer", "steveb"],
                                             ["5", "Tim", "Cook", "timc"]])

# union-operator.md: "There's no guarantee of the order in which the union legs will appear".
P, C = "union-operator.md", "28931993f7cf95b8d45aa7de7cb9dc5b146e6a2d"
ex("union-isfuzzy-missing-view", P, C, '''
// Using union isfuzzy=true to access non-existing view:                                     
let View_1 = view () { print x=1 };
let View_2 = view () { print x=1 };
let OtherView_1 = view () { print x=1 };
union isfuzzy=true
(View_1 | where x > 0), 
(View_2 | where x > 0),
(View_3 | where x > 0)
| count 
''', ["Count"], [["2"]])
ex("union-isfuzzy-wildcards", P, C, '''
// Using union isfuzzy=true and wildcard access:
let View_1 = view () { print x=1 };
let View_2 = view () { print x=1 };
let OtherView_1 = view () { print x=1 };
union isfuzzy=true View*, SomeView*, OtherView*
| count 
''', ["Count"], [["3"]])
ex("union-type-mismatch", P, C, '''
let View_1 = view () { print x=1 };
let View_2 = view () { print x=toint(2) };
union withsource=TableName View_1, View_2
''', ["TableName", "x_long", "x_int"], [["View_1", "1", ""], ["View_2", "", "2"]], ordered=False)
ex("union-type-mismatch-name-clash", P, C, '''
let View_1 = view () { print x=1 };
let View_2 = view () { print x=toint(2) };
let View_3 = view () { print x_long=3 };
union withsource=TableName View_1, View_2, View_3 
''', ["TableName", "x_long1", "x_int", "x_long"], [["View_1", "1", "", ""], ["View_2", "", "2", ""],
                                                   ["View_3", "", "", "3"]], ordered=False)
