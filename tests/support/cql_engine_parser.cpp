#include "support/cql_engine_syntax.hpp"
#include "support/cql_engine_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace rtcrm::test::engine {

namespace {

class parser {
public:
    explicit parser(std::string_view text) : text_(text), tokens_(lex(text)) {}

    statement parse() {
        statement st = parse_statement();
        accept_symbol(";");
        if (peek().kind != tk::end) {
            unexpected("end of statement");
        }
        return st;
    }
    [[nodiscard]] std::size_t markers() const { return markers_; }

private:
    [[nodiscard]] const token& peek(std::size_t ahead = 0) const {
        return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
    }
    token next() {
        token t = peek();
        if (pos_ < tokens_.size() - 1) {
            ++pos_;
        }
        return t;
    }
    [[nodiscard]] bool at_keyword(std::string_view kw, std::size_t ahead = 0) const {
        return peek(ahead).kind == tk::ident && peek(ahead).text == kw;
    }
    bool accept_keyword(std::string_view kw) {
        if (at_keyword(kw)) {
            next();
            return true;
        }
        return false;
    }
    void expect_keyword(std::string_view kw) {
        if (!accept_keyword(kw)) {
            unexpected(fmt::format("'{}'", lower(kw)));
        }
    }
    [[nodiscard]] bool at_symbol(std::string_view s) const { return peek().kind == tk::symbol && peek().text == s; }
    bool accept_symbol(std::string_view s) {
        if (at_symbol(s)) {
            next();
            return true;
        }
        return false;
    }
    void expect_symbol(std::string_view s) {
        if (!accept_symbol(s)) {
            unexpected(fmt::format("'{}'", s));
        }
    }
    [[noreturn]] void unexpected(std::string_view expecting) const {
        const token& t = peek();
        const std::string got = t.kind == tk::end ? std::string("<EOF>") : std::string(text_.substr(t.pos, std::max<std::size_t>(t.text.size(), 1)));
        syntax(fmt::format("line 1:{} mismatched input '{}' expecting {} (in \"{}\")", t.pos, got, expecting, text_));
    }
    [[noreturn]] void unsupported(std::string_view what) const {
        invalid(fmt::format("{} is not supported by the rtcrm CQL test peer (in \"{}\")", what, text_));
    }

    std::string name() {
        if (peek().kind == tk::ident || peek().kind == tk::quoted) {
            return next().text;
        }
        unexpected("an identifier");
    }
    qualified_name qualified() {
        qualified_name q;
        q.table = name();
        if (accept_symbol(".")) {
            q.keyspace = std::move(q.table);
            q.table = name();
        }
        return q;
    }

    term parse_term() {
        const token& t = peek();
        term out;
        switch (t.kind) {
            case tk::marker:
                out.kind = term_kind::marker;
                out.text = t.text;
                out.marker = markers_++;
                next();
                return out;
            case tk::string: out.kind = term_kind::string; break;
            case tk::integer: out.kind = term_kind::integer; break;
            case tk::floating: out.kind = term_kind::floating; break;
            case tk::hex: out.kind = term_kind::hex; break;
            case tk::uuid: out.kind = term_kind::uuid; break;
            case tk::ident:
                if (t.text == "true" || t.text == "false") {
                    out.kind = term_kind::boolean;
                    break;
                }
                if (t.text == "null") {
                    out.kind = term_kind::null;
                    break;
                }
                if (peek(1).kind == tk::symbol && peek(1).text == "(") {
                    out.kind = term_kind::function;
                    out.text = next().text;
                    next();
                    if (!accept_symbol(")")) {
                        unsupported(fmt::format("the function call {}(...) with arguments", out.text));
                    }
                    return out;
                }
                unexpected("a value");
            case tk::symbol:
                if (t.text == "{" || t.text == "[") {
                    return parse_collection();
                }
                unexpected("a value");
            default: unexpected("a value");
        }
        out.text = next().text;
        return out;
    }

    term parse_collection() {
        term out;
        const bool list = next().text == "[";
        out.kind = list ? term_kind::list : term_kind::set_or_map;
        const std::string_view close = list ? "]" : "}";
        if (accept_symbol(close)) {
            return out;
        }
        for (;;) {
            out.items.push_back(parse_term());
            if (!list && (out.items.size() == 1 ? at_symbol(":") : out.is_map)) {
                out.is_map = true;
                expect_symbol(":");
                out.items.push_back(parse_term());
            }
            if (accept_symbol(close)) {
                return out;
            }
            expect_symbol(",");
        }
    }

    cql::data_type parse_type() {
        const std::string n = name();
        if (n == "frozen") {
            expect_symbol("<");
            auto inner = parse_type();
            expect_symbol(">");
            return inner;
        }
        if (n == "list" || n == "set" || n == "map") {
            cql::data_type t = simple_type(n == "list" ? type_id::list : n == "set" ? type_id::set : type_id::map);
            expect_symbol("<");
            t.params.push_back(parse_type());
            if (n == "map") {
                expect_symbol(",");
                t.params.push_back(parse_type());
            }
            expect_symbol(">");
            return t;
        }
        if (n == "counter") {
            unsupported("the counter type");
        }
        const auto id = simple_type_named(n);
        if (!id) {
            invalid(fmt::format("Unknown type {} (the test peer knows text, varchar, ascii, blob, int, bigint, "
                                "smallint, tinyint, timestamp, timeuuid, uuid, boolean, double, float, inet, list, "
                                "set, map)", n));
        }
        return simple_type(*id);
    }

    relation parse_relation() {
        relation r;
        if (at_keyword("token") && peek(1).kind == tk::symbol && peek(1).text == "(") {
            next();
            next();
            r.token = true;
            do {
                r.columns.push_back(name());
            } while (accept_symbol(","));
            expect_symbol(")");
        } else if (at_symbol("(")) {
            unsupported("a multi-column relation");
        } else {
            r.columns.push_back(name());
        }
        if (at_keyword("in")) {
            unsupported("an IN relation");
        }
        if (at_keyword("contains") || at_keyword("like")) {
            unsupported(fmt::format("a {} relation", peek().text));
        }
        const token& op = peek();
        if (op.kind != tk::symbol || (op.text != "=" && op.text != "<" && op.text != ">" && op.text != "<=" &&
                                      op.text != ">=" && op.text != "!=")) {
            unexpected("a relation operator");
        }
        r.op = next().text;
        r.value = parse_term();
        return r;
    }

    std::vector<relation> parse_where() {
        std::vector<relation> out;
        if (!accept_keyword("where")) {
            return out;
        }
        do {
            out.push_back(parse_relation());
        } while (accept_keyword("and"));
        return out;
    }

    void parse_using(std::optional<term>* ttl, std::optional<term>& timestamp) {
        if (!accept_keyword("using")) {
            return;
        }
        do {
            if (ttl != nullptr && accept_keyword("ttl")) {
                *ttl = parse_term();
            } else if (accept_keyword("timestamp")) {
                timestamp = parse_term();
            } else {
                unexpected(ttl != nullptr ? "TTL or TIMESTAMP" : "TIMESTAMP");
            }
        } while (accept_keyword("and"));
    }

    void refuse_conditions() {
        if (at_keyword("if")) {
            unsupported("a lightweight transaction (IF ...)");
        }
    }

    statement parse_statement() {
        if (accept_keyword("select")) {
            return parse_select();
        }
        if (accept_keyword("insert")) {
            return parse_insert();
        }
        if (accept_keyword("update")) {
            return parse_update();
        }
        if (accept_keyword("delete")) {
            return parse_delete();
        }
        if (accept_keyword("begin")) {
            return parse_batch();
        }
        if (accept_keyword("use")) {
            return use_st{name()};
        }
        if (accept_keyword("create")) {
            return parse_create();
        }
        if (accept_keyword("drop")) {
            return parse_drop();
        }
        if (accept_keyword("truncate")) {
            accept_keyword("table");
            return truncate_st{qualified()};
        }
        static const std::set<std::string, std::less<>> other_statements{"alter", "grant", "revoke", "list"};
        if (peek().kind == tk::ident && other_statements.count(peek().text) != 0) {
            unsupported(fmt::format("the statement {}", lower(peek().text)));
        }
        unexpected("a statement");
    }

    select_st parse_select() {
        select_st st;
        if (at_keyword("json") || at_keyword("distinct")) {
            unsupported(fmt::format("SELECT {}", peek().text));
        }
        if (accept_symbol("*")) {
            st.star = true;
        } else if (at_keyword("count") && peek(1).kind == tk::symbol && peek(1).text == "(") {
            next();
            next();
            if (!accept_symbol("*") && !(peek().kind == tk::integer && peek().text == "1" && (next(), true))) {
                unexpected("'*' or 1");
            }
            expect_symbol(")");
            st.count = true;
            if (accept_keyword("as")) {
                st.count_alias = name();
            }
        } else {
            do {
                if (peek(1).kind == tk::symbol && peek(1).text == "(") {
                    unsupported(fmt::format("the selector {}(...)", peek().text));
                }
                selector s;
                s.column = name();
                s.alias = accept_keyword("as") ? name() : s.column;
                st.columns.push_back(std::move(s));
            } while (accept_symbol(","));
        }
        expect_keyword("from");
        st.name = qualified();
        st.where = parse_where();
        if (accept_keyword("group")) {
            unsupported("GROUP BY");
        }
        if (accept_keyword("order")) {
            expect_keyword("by");
            do {
                std::string col = name();
                bool desc = false;
                if (accept_keyword("desc")) {
                    desc = true;
                } else {
                    accept_keyword("asc");
                }
                st.order_by.emplace_back(std::move(col), desc);
            } while (accept_symbol(","));
        }
        if (at_keyword("per")) {
            unsupported("PER PARTITION LIMIT");
        }
        if (accept_keyword("limit")) {
            st.limit = parse_term();
        }
        if (accept_keyword("allow")) {
            expect_keyword("filtering");
            st.allow_filtering = true;
        }
        return st;
    }

    insert_st parse_insert() {
        insert_st st;
        expect_keyword("into");
        st.name = qualified();
        if (at_keyword("json")) {
            unsupported("INSERT JSON");
        }
        expect_symbol("(");
        do {
            st.columns.push_back(name());
        } while (accept_symbol(","));
        expect_symbol(")");
        expect_keyword("values");
        expect_symbol("(");
        do {
            st.values.push_back(parse_term());
        } while (accept_symbol(","));
        expect_symbol(")");
        st.if_not_exists = parse_if_not_exists();
        parse_using(&st.ttl, st.timestamp);
        if (!st.if_not_exists) {
            st.if_not_exists = parse_if_not_exists();
        }
        refuse_conditions();
        return st;
    }

    update_st parse_update() {
        update_st st;
        st.name = qualified();
        parse_using(&st.ttl, st.timestamp);
        expect_keyword("set");
        do {
            std::string col = name();
            if (at_symbol("[") || at_symbol(".")) {
                unsupported("an element or field assignment");
            }
            expect_symbol("=");
            term value = parse_term();
            if (at_symbol("+") || at_symbol("-") || value.kind == term_kind::function) {
                unsupported("a counter or collection update (only \"column = value\" is)");
            }
            st.set.emplace_back(std::move(col), std::move(value));
        } while (accept_symbol(","));
        st.where = parse_where();
        if (accept_keyword("if")) {
            if (accept_keyword("exists")) {
                st.if_exists = true;
            } else {
                do {
                    st.conditions.push_back(parse_relation());
                    if (st.conditions.back().token) {
                        unexpected("a column condition");
                    }
                } while (accept_keyword("and"));
            }
        }
        return st;
    }

    delete_st parse_delete() {
        delete_st st;
        if (!at_keyword("from")) {
            do {
                st.columns.push_back(name());
                if (at_symbol("[") || at_symbol(".")) {
                    unsupported("deleting a collection element or field");
                }
            } while (accept_symbol(","));
        }
        expect_keyword("from");
        st.name = qualified();
        parse_using(nullptr, st.timestamp);
        st.where = parse_where();
        refuse_conditions();
        return st;
    }

    batch_st parse_batch() {
        batch_st st;
        if (accept_keyword("counter")) {
            unsupported("a counter batch");
        }
        if (!accept_keyword("unlogged")) {
            accept_keyword("logged");
        }
        expect_keyword("batch");
        parse_using(nullptr, st.timestamp);
        while (!accept_keyword("apply")) {
            if (accept_keyword("insert")) {
                st.statements.emplace_back(parse_insert());
            } else if (accept_keyword("update")) {
                st.statements.emplace_back(parse_update());
            } else if (accept_keyword("delete")) {
                st.statements.emplace_back(parse_delete());
            } else {
                unexpected("INSERT, UPDATE, DELETE or APPLY BATCH");
            }
            accept_symbol(";");
        }
        expect_keyword("batch");
        return st;
    }

    statement parse_create() {
        if (accept_keyword("keyspace") || accept_keyword("schema")) {
            create_keyspace_st st;
            st.if_not_exists = parse_if_not_exists();
            st.name = name();
            expect_keyword("with");
            do {
                const std::string prop = name();
                expect_symbol("=");
                const term value = parse_term();
                if (prop == "replication") {
                    if (value.kind != term_kind::set_or_map || !value.is_map) {
                        invalid("replication must be a map, e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}");
                    }
                    for (std::size_t i = 0; i + 1 < value.items.size(); i += 2) {
                        st.replication[value.items[i].text] = value.items[i + 1].text;
                    }
                } else if (prop == "durable_writes") {
                    st.durable_writes = value.text == "true";
                } else {
                    syntax(fmt::format("Unknown property '{}'", prop));
                }
            } while (accept_keyword("and"));
            return st;
        }
        if (accept_keyword("table") || accept_keyword("columnfamily")) {
            return parse_create_table();
        }
        unsupported(fmt::format("CREATE {}", peek().kind == tk::end ? std::string("<EOF>") : lower(peek().text)));
    }

    bool parse_if_not_exists() {
        if (accept_keyword("if")) {
            expect_keyword("not");
            expect_keyword("exists");
            return true;
        }
        return false;
    }

    create_table_st parse_create_table() {
        create_table_st st;
        st.if_not_exists = parse_if_not_exists();
        st.name = qualified();
        expect_symbol("(");
        do {
            if (at_keyword("primary") && at_keyword("key", 1)) {
                next();
                next();
                expect_symbol("(");
                if (accept_symbol("(")) {
                    do {
                        st.partition_key.push_back(name());
                    } while (accept_symbol(","));
                    expect_symbol(")");
                } else {
                    st.partition_key.push_back(name());
                }
                while (accept_symbol(",")) {
                    st.clustering_key.push_back(name());
                }
                expect_symbol(")");
                continue;
            }
            column_decl c;
            c.name = name();
            c.type = parse_type();
            if (accept_keyword("static")) {
                unsupported("a static column");
            }
            if (accept_keyword("primary")) {
                expect_keyword("key");
                st.partition_key.push_back(c.name);
            }
            st.columns.push_back(std::move(c));
        } while (accept_symbol(",") && !at_symbol(")"));
        expect_symbol(")");
        if (accept_keyword("with")) {
            do {
                if (accept_keyword("clustering")) {
                    expect_keyword("order");
                    expect_keyword("by");
                    expect_symbol("(");
                    do {
                        std::string col = name();
                        bool desc = false;
                        if (accept_keyword("desc")) {
                            desc = true;
                        } else {
                            expect_keyword("asc");
                        }
                        st.clustering_order.emplace_back(std::move(col), desc);
                    } while (accept_symbol(","));
                    expect_symbol(")");
                    continue;
                }
                if (accept_keyword("compact")) {
                    expect_keyword("storage");
                    continue;
                }
                const std::string prop = name();
                expect_symbol("=");
                const term value = parse_term();
                static const std::set<std::string, std::less<>> known{
                    "bloom_filter_fp_chance", "caching", "cdc", "comment", "compaction", "compression",
                    "crc_check_chance", "dclocal_read_repair_chance", "default_time_to_live", "gc_grace_seconds",
                    "max_index_interval", "memtable_flush_period_in_ms", "min_index_interval", "read_repair_chance",
                    "speculative_retry", "id"};
                if (known.find(prop) == known.end()) {
                    syntax(fmt::format("Unknown property '{}'", prop));
                }
                if (prop == "default_time_to_live") {
                    std::int64_t v = -1;
                    std::from_chars(value.text.data(), value.text.data() + value.text.size(), v);
                    if (value.kind != term_kind::integer || v < 0 || v > 630720000) {
                        invalid(fmt::format("default_time_to_live must be an integer between 0 and 630720000, not {}",
                                            value.text));
                    }
                    st.default_ttl = static_cast<std::int32_t>(v);
                }
            } while (accept_keyword("and"));
        }
        return st;
    }

    statement parse_drop() {
        drop_st st;
        if (accept_keyword("keyspace") || accept_keyword("schema")) {
            st.keyspace = true;
        } else if (!accept_keyword("table") && !accept_keyword("columnfamily")) {
            unsupported(fmt::format("DROP {}", peek().kind == tk::end ? std::string("<EOF>") : lower(peek().text)));
        }
        if (accept_keyword("if")) {
            expect_keyword("exists");
            st.if_exists = true;
        }
        if (st.keyspace) {
            st.name.keyspace = name();
        } else {
            st.name = qualified();
        }
        return st;
    }

    std::string_view text_;
    std::vector<token> tokens_;
    std::size_t pos_ = 0;
    std::size_t markers_ = 0;
};

}  // namespace

parsed_statement parse(std::string_view text) {
    parser p(text);
    auto st = p.parse();
    return {std::move(st), p.markers()};
}

}  // namespace rtcrm::test::engine
