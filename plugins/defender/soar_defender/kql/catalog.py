"""Every name real KQL knows, whether or not the simulator evaluates it.

A name found here is never answered with "Unknown function" or a typo hint: when the simulator
does not implement it, the answer is "'<name>' is not supported by the simulated hunting
service". The lists follow the Kusto language service's function, aggregate and operator
symbols, plus the Defender advanced-hunting functions (``FileProfile()`` and friends).

Checked against the public Kusto language service source, repository
microsoft/Kusto-Query-Language at commit 294c2559c497f0acd87858a61b1a7a0419ce4a74:
``src/Kusto.Language/Functions.cs`` (``Functions.All``: scalar functions, hidden and obsolete
spellings included), ``src/Kusto.Language/Aggregates.cs`` (``Aggregates.All``),
``src/Kusto.Language/PlugIns.cs`` (``PlugIns.All``) and ``src/Kusto.Language/Syntax/SyntaxFacts.cs``
(operator keywords). Every name those lists declare is here, except internal ``__``-prefixed
operator keywords. Kept although those lists lack them at that commit: ``datetime_to_locale_string``
(hidden in earlier versions), ``materialize`` and ``toscalar`` (keywords, not symbols),
``graph-merge``, and the plugins ``schema_merge`` (declared, not in ``PlugIns.All``) and
``diffpatterns_text``.
"""

from __future__ import annotations

#: Scalar functions of KQL (including deprecated spellings the service still accepts).
SCALAR_FUNCTIONS = frozenset("""
cluster database table external_table materialized_view entity_group stored_query_result graph materialize
toscalar column_names_of strcat strcat_array array_strcat strcat_delim strcmp strrep strlen string_size
toupper tolower to_utf8 unicode_codepoints_from_string unicode_codepoints_to_string substring regex_quote
indexof indexof_regex has_any_index reverse split parse_command_line extract extractall extract_all
extractjson extract_json replace replace_regex replace_string replace_strings trim_start trim_end trim countof
translate make_string datetime_to_locale_string datetime_local_to_utc datetime_utc_to_local
datetime_list_timezones tostring tohex todynamic toobject tolong toint toreal todouble todatetime totimespan
totime tobool toboolean todecimal toguid gettype url_encode url_encode_component url_decode
base64_encodestring base64_encode_tostring base64_decodestring base64_decode_tostring base64_decode_toarray
base64_decode_toguid base64_encode_fromguid base64_encode_fromarray zlib_decompress_from_base64_string
zlib_compress_to_base64_string gzip_decompress_from_base64_string gzip_compress_to_base64_string
__lz4_compress_dynamic_array_to_base64_string parse_csv parsejson parse_json parse_xml parseurl parse_url
parseurlquery parse_urlquery parse_ipv4 parse_ipv4_mask parse_ipv6 parse_ipv6_mask parse_path parse_user_agent
parse_version format_ipv4 format_ipv4_mask ipv4_compare ipv4_is_match ipv4_is_in_range ipv4_is_in_any_range
ipv4_netmask_suffix ipv4_is_private ipv4_range_to_cidr_list ipv6_compare ipv6_is_match ipv6_is_in_range
ipv6_is_in_any_range __ipv6_lookup_ranges format_datetime format_timespan make_datetime make_timespan
datetime_add datetime_diff dayofweek dayofmonth dayofyear hourofday weekofyear week_of_year monthofyear
startofday startofweek startofmonth startofyear endofday endofweek endofmonth endofyear getyear getmonth
datepart datetime_part now ago unixtime_seconds_todatetime unixtime_milliseconds_todatetime
unixtime_microseconds_todatetime unixtime_nanoseconds_todatetime hash hash_xxhash64 hash_sha256 hash_md5
hash_sha1 hash_combine hash_many __hash_crc32 __hash_many_crc32 __hash_djb2 __hash_xxh64 iif iff case assert
bin floor bin_at bin_auto not notnull isnotnull isnull notempty isnotempty isempty isascii isutf8
iscolumnexists columnifexists column_ifexists around binary_and binary_or binary_xor binary_not
binary_shift_right binary_shift_left bitset_count_ones treepath repeat arraylength array_length array_reverse
range array_concat array_iff array_iif array_index_of set_has_element array_slice array_split array_shift_left
array_shift_right array_rotate_left array_rotate_right array_sort_asc array_sort_desc array_sum bag_keys zip
pack pack_dictionary bag_pack bag_pack_columns pack_all pack_array set_union set_intersect set_difference
set_equals bag_merge dynamic_to_json bag_remove_keys bag_has_key bag_set_key bag_zip jaccard_index
percentile_tdigest percentiles_array_tdigest percentrank_tdigest rank_tdigest tdigest_merge merge_tdigest
hll_merge dcount_hll tdigest_isvalid hll_isvalid __hll_normalize round ceiling pow sqrt log log2 log10 exp
exp2 exp10 pi cos sin tan acos asin atan atan2 abs cot degrees radians sign rand beta_cdf beta_inv beta_pdf
gamma loggamma erf erfc isnan isinf isfinite coalesce max_of min_of welch_test format_bytes
current_cluster_endpoint current_database current_principal current_principal_details
current_principal_is_member_of current_node_id extent_id extentid extent_tags ingestion_time cursor_after
cursor_before_or_at cursor_current current_cursor has_ipv4 has_ipv4_prefix has_any_ipv4 has_any_ipv4_prefix
row_number row_cumsum row_rank row_rank_dense row_rank_min row_window_session prev next rowstore_ordinal_range
estimate_data_size new_guid __invoke __cast geo_info_from_ip_address punycode_from_string punycode_to_string
punycode_domain_from_string punycode_domain_to_string convert_angle convert_energy convert_force
convert_length convert_mass convert_speed convert_temperature convert_volume series_fir series_iir
series_stats series_stats_dynamic series_fft series_ifft series_fit_line series_fit_line_dynamic
series_fit_2lines series_fit_2lines_dynamic series_fit_poly series_outliers series_periods_detect
series_periods_validate series_fill_backward series_fill_forward series_fill_const series_fill_linear
series_add series_subtract series_multiply series_divide series_pow series_greater series_greater_equals
series_less series_less_equals series_equals series_not_equals series_exp series_sign series_abs series_sin
series_asin series_cos series_acos series_tan series_atan series_log series_floor series_ceiling
series_seasonal series_decompose series_decompose_forecast series_decompose_anomalies
series_pearson_correlation series_cosine_similarity series_dot_product series_magnitude series_sum
series_product geo_distance_2points geo_distance_point_to_line geo_distance_point_to_polygon
geo_point_in_circle geo_point_in_polygon geo_intersects_2lines geo_intersects_line_with_polygon
geo_intersects_2polygons geo_intersection_2lines geo_intersection_line_with_polygon geo_intersection_2polygons
geo_union_polygons_array geo_union_lines_array geo_simplify_polygons_array geo_polygon_to_s2cells
geo_polygon_densify geo_polygon_area geo_polygon_centroid geo_polygon_perimeter geo_polygon_simplify
geo_polygon_to_h3cells geo_polygon_buffer geo_line_length geo_line_centroid geo_line_densify geo_line_simplify
geo_line_to_s2cells geo_line_buffer geo_line_locate_point geo_line_interpolate_point geo_point_buffer
geo_point_to_geohash geo_geohash_to_central_point geo_geohash_to_polygon geo_geohash_neighbors
geo_point_to_s2cell geo_s2cell_to_central_point geo_s2cell_to_polygon geo_s2cell_neighbors geo_point_to_h3cell
geo_h3cell_to_central_point geo_h3cell_to_polygon geo_h3cell_neighbors geo_h3cell_children geo_h3cell_parent
geo_h3cell_rings geo_h3cell_level geo_angle geo_azimuth geo_closest_point_on_line geo_closest_point_on_polygon
geo_from_wkt __geo_line_validate __geo_polygon_validate __geo_polygon_s2cell_covering_level
__geo_line_s2cell_covering_level __geo_length_to_s2cell_level all any map inner_nodes node_degree_in
node_degree_out labels
""".split())

#: Aggregation functions (summarize / make-series / top-nested).
AGGREGATE_FUNCTIONS = frozenset("""
sum sumif cnt count countif dcount dcountif tdigest tdigest_merge merge_tdigest hll hll_if hll_merge min minif
max maxif avg avgif makelist make_list make_list_if make_list_with_nulls makeset make_set make_set_if
make_dictionary make_bag make_bag_if buildschema passthrough percentile percentiles percentiles_array
percentilew percentilesw percentilesw_array stdev stdevif stdevp variance varianceif variancep variancepif
covariance covarianceif covariancep covariancepif any take_any anyif take_anyif arg_min arg_max argmin argmax
binary_all_or binary_all_and binary_all_xor count_distinct count_distinctif
""".split())

#: Tabular operators (after '|', or at the start of a tabular expression).
TABULAR_OPERATORS = frozenset("""
as assert-schema consume count datatable distinct evaluate extend externaldata external_data facet filter find fork
getschema graph-match graph-merge graph-to-table graph-shortest-paths graph-mark-components invoke join
limit lookup macro-expand make-graph make-series mv-apply mv-expand mvapply mvexpand order parse parse-kv
parse-where partition print project project-away project-by-names project-keep project-rename project-smart
project-reorder range reduce
render sample sample-distinct scan search serialize sort summarize take top top-hitters top-nested union
where
""".split())

#: Query statements other than 'let' and a tabular expression.
STATEMENTS = frozenset({"set", "alias", "declare", "pattern", "restrict", "query_parameters"})

#: Plugins called with 'evaluate'.
PLUGINS = frozenset("""
bag_unpack autocluster basket diffpatterns diffpatterns_text narrow pivot preview rolling_percentile rows_near
schema_merge sequence_detect sliding_window_counts funnel_sequence funnel_sequence_completion
active_users_count activity_counts_metrics activity_engagement activity_metrics new_activity_metrics
session_count dcount_intersect ipv4_lookup ipv6_lookup infer_storage_schema
infer_storage_schema_with_suggestions http_request http_request_post sql_request cosmosdb_sql_request
mysql_request postgresql_request azure_digital_twins_query_request python r csharp
estimate_rows_count execute_query execute_show_command external_datatable identity
identity_v3 geo_line_lookup geo_polygon_lookup ai_chat_completion ai_chat_completion_prompt ai_embeddings
ai_embed_text
""".split())

#: Defender advanced-hunting functions (``invoke FileProfile()``, ``DeviceFromIP()``, ...).
DEFENDER_FUNCTIONS = frozenset({"FileProfile", "DeviceFromIP", "AssignedIPAddresses", "SeenBy",
                                "InboundExternalNetworkEvents"})

#: Spellings that are the same function under another name (old aliases the service accepts).
AGGREGATE_ALIASES = {"any": "take_any", "makeset": "make_set", "makelist": "make_list",
                     "anyif": "take_anyif", "argmax": "arg_max", "argmin": "arg_min"}


def is_real_function(name: str) -> bool:
    """True for any scalar, aggregate or Defender function of real KQL."""
    return name in SCALAR_FUNCTIONS or name in AGGREGATE_FUNCTIONS or name in DEFENDER_FUNCTIONS
