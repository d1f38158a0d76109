// man_page and bash_completion (cli_conventions.hpp): both walk the CLI11 definition, so the
// installed documentation lists exactly the subcommands and options the program accepts.
#include "cli_conventions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace labsync::apps {

extern const char* const build_date;

namespace {

bool visible(const CLI::Option* o) {
    return !o->get_group().empty();
}
bool visible_app(const CLI::App* a) {
    return !a->get_group().empty();
}

std::vector<const CLI::App*> subcommands_of(const CLI::App& app) {
    return app.get_subcommands([](const CLI::App* a) { return visible_app(a); });
}

// roff: backslashes escaped, '-' as \-, a leading '.' or '\'' neutralised.
std::string roff(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out;
}

// "--state, -s TEXT" as roff: names bold, the value's type italic.
std::string option_term(const CLI::Option* o) {
    std::string names;
    for (const auto& l : o->get_lnames())
        names += (names.empty() ? "" : ", ") + fmt::format("\\fB{}\\fR", roff("--" + l));
    for (const auto& s : o->get_snames())
        names += (names.empty() ? "" : ", ") + fmt::format("\\fB{}\\fR", roff("-" + s));
    if (o->get_positional() && names.empty()) return fmt::format("\\fI{}\\fR", roff(o->get_name(true)));
    if (o->get_items_expected_max() != 0 && !o->get_type_name().empty())
        names += fmt::format(" \\fI{}\\fR", roff(o->get_type_name()));
    return names;
}

void options_section(std::string& out, const CLI::App& app) {
    for (const CLI::Option* o : app.get_options([](const CLI::Option* o) { return visible(o); })) {
        out += fmt::format(".TP\n{}\n{}", option_term(o), roff(o->get_description()));
        if (!o->get_default_str().empty()) out += fmt::format(" (default: {})", roff(o->get_default_str()));
        if (o->get_required()) out += " (required)";
        out += "\n";
    }
}

void command_section(std::string& out, const CLI::App& app, const std::string& prefix) {
    for (const CLI::App* sub : subcommands_of(app)) {
        const std::string name = prefix + " " + sub->get_name();
        out += fmt::format(".SS {}\n{}\n", roff(name), roff(sub->get_description()));
        if (!sub->get_options([](const CLI::Option* o) { return visible(o); }).empty()) {
            out += ".RS\n";
            options_section(out, *sub);
            out += ".RE\n";
        }
        command_section(out, *sub, name);
    }
}

std::string words_of(const CLI::App& app) {
    std::string words;
    for (const CLI::App* sub : subcommands_of(app)) words += sub->get_name() + " ";
    for (const CLI::Option* o : app.get_options([](const CLI::Option* o) { return visible(o); })) {
        for (const auto& l : o->get_lnames()) words += "--" + l + " ";
        for (const auto& s : o->get_snames()) words += "-" + s + " ";
    }
    if (!words.empty()) words.pop_back();
    return words;
}

// Per (nested) subcommand path, one branch that recognises it (`"config check") path="config check";;`)
// and one that lists its words (`"config check") words="--json";;`).
void completion_cases(std::string& paths, std::string& words, const CLI::App& app, const std::string& path) {
    for (const CLI::App* sub : subcommands_of(app)) {
        const std::string p = path.empty() ? sub->get_name() : path + " " + sub->get_name();
        paths += fmt::format("            \"{}\") path=\"{}\" ;;\n", p, p);
        words += fmt::format("        \"{}\") words=\"{}\" ;;\n", p, words_of(*sub));
        completion_cases(paths, words, *sub, p);
    }
}

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
    return out;
}

}  // namespace

std::string man_page(const CLI::App& app, std::string_view program) {
    const std::string name(program);
    std::string out = fmt::format(".TH {} 1 \"{}\" \"{}\" \"User Commands\"\n", upper(name), build_date,
                                  roff(version_line(program)));
    out += fmt::format(".SH NAME\n{} \\- {}\n", roff(name), roff(app.get_description()));
    const bool has_commands = !subcommands_of(app).empty();
    out += fmt::format(
        ".SH SYNOPSIS\n.B {}\n{}\n", roff(name),
        has_commands ? "\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]" : "[\\fIOPTIONS\\fR]");
    out += fmt::format(".SH DESCRIPTION\n{}.\n", roff(app.get_description()));
    if (has_commands) {
        out += ".SH COMMANDS\n";
        command_section(out, app, name);
    }
    out += ".SH OPTIONS\n";
    options_section(out, app);
    out +=
        ".SH EXIT STATUS\n.TP\n0\nsuccess\n.TP\n1\nthe operation failed\n.TP\n2\nusage or configuration "
        "error\n";
    if (name == "syncd")
        out += ".TP\n3\nverification mismatch\n.TP\n4\nthe daemon is not reachable (admin commands)\n";
    out +=
        ".SH SEE ALSO\nThe labsync documentation: docs/operations.md, docs/configuration.md, "
        "docs/protocol.md.\n";
    return out;
}

std::string bash_completion(const CLI::App& app, std::string_view program) {
    const std::string name(program);
    std::string fn = "_" + name;
    std::replace(fn.begin(), fn.end(), '-', '_');
    std::string paths, cases;
    completion_cases(paths, cases, app, "");
    return fmt::format(R"(# bash completion for {name}: generated from its command line at build time.
{fn}() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} path="" words i
    # The subcommand path so far ("config check"): the words that name a known subcommand.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{path:+$path }}${{COMP_WORDS[i]}}" in
{paths}            *) ;;
        esac
    done
    case "$path" in
        "") words="{top}" ;;
{cases}        *) words="" ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F {fn} {name}
)",
                       fmt::arg("name", name), fmt::arg("fn", fn), fmt::arg("top", words_of(app)),
                       fmt::arg("cases", cases), fmt::arg("paths", paths));
}

}  // namespace labsync::apps
