function __roomwarden_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __roomwarden_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __roomwarden_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __roomwarden_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __roomwarden_parse_tokens -S
    set -l unparsed_tokens (__roomwarden_tokens -pc)
    switch $unparsed_tokens[1]
    case 'roomwarden'
        __roomwarden_parse_subcommand 0 'version' 'help'
        switch $unparsed_tokens[1]
        case 'watch'
            __roomwarden_parse_subcommand -r 1 'u/url=' 'h/host=' 'p/port=' 's/socket=' 'db=' 'user=' 'a/pass=' 'askpass' 'connect-timeout=' 'timeout=' 'sentinel=+' 'master=' 'f/format=' 'json' '0/null' 'local' 'archive-key=' 'backlog-key=' 'c/channel=+' 'ignore=+' 'grep=' 'i/ignore-case' 'n/count=' 'wait=' 'duration=' 'buffer=' 'heartbeat=' 'no-reconnect' 'archive' 'sharded' 'since=' 'version' 'help'
        case 'publish'
            __roomwarden_parse_subcommand 2 'u/url=' 'h/host=' 'p/port=' 's/socket=' 'db=' 'user=' 'a/pass=' 'askpass' 'connect-timeout=' 'timeout=' 'sentinel=+' 'master=' 'archive-key=' 'backlog-key=' '0/null' 'whole' 'retain=' 'max-len=' 'retry-for=' 'no-archive' 'from=' 'f/format=' 'json' 'q/quiet' 'version' 'help'
        case 'history'
            __roomwarden_parse_subcommand -r 1 'u/url=' 'h/host=' 'p/port=' 's/socket=' 'db=' 'user=' 'a/pass=' 'askpass' 'connect-timeout=' 'timeout=' 'sentinel=+' 'master=' 'f/format=' 'json' '0/null' 'local' 'archive-key=' 'backlog-key=' 'since=' 'until=' 'last=' 'limit=' 'reverse' 'follow' 'grep=' 'i/ignore-case' 'from=+' 'ignore=+' 'delete' 'all' 'yes' 'score-unit=' 'version' 'help'
        case 'stats'
            __roomwarden_parse_subcommand 1 'u/url=' 'h/host=' 'p/port=' 's/socket=' 'db=' 'user=' 'a/pass=' 'askpass' 'connect-timeout=' 'timeout=' 'sentinel=+' 'master=' 'archive-key=' 'backlog-key=' 'window=' 'top=' 'sort=' 'f/format=' 'json' 'watch=' 'sample=' 'version' 'help'
        case 'help'
            __roomwarden_parse_subcommand -r 1 'version'
        end
    end
end

function __roomwarden_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __roomwarden_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __roomwarden_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __roomwarden_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__roomwarden_tokens -p)
    if test -z "$(__roomwarden_tokens -t)"
        set -l index (count (__roomwarden_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'roomwarden' -f
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden" version' -l 'version' -d 'Show the version.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden" help' -l 'help' -d 'Show help information.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_positional "roomwarden" -eq 1' -fa 'watch' -d 'Print every message of every room, live.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_positional "roomwarden" -eq 1' -fa 'publish' -d 'Publish a message and archive it, in one transaction.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_positional "roomwarden" -eq 1' -fa 'history' -d 'Print the archive by time window, merged across rooms.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_positional "roomwarden" -eq 1' -fa 'stats' -d 'Rooms, subscribers, activity and server health at a glance.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_positional "roomwarden" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" u url' -s 'u' -l 'url' -d 'Server URL: redis://[user[:pass]@]host[:port][/db], unix:///path.sock[?db=N] or redis-sentinel://[[user:]pass@]host[:port][,host[:port]...][/db]#MASTER (env REDIS_URL).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" h host' -s 'h' -l 'host' -d 'Server host (default 127.0.0.1).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" p port' -s 'p' -l 'port' -d 'Server port (default 6379).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" s socket' -s 's' -l 'socket' -d 'Server unix socket (beats host and port).' -rF
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" db' -l 'db' -d 'Database number (default 0).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" user' -l 'user' -d 'ACL user name (needs a password).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" a pass' -s 'a' -l 'pass' -d 'Password (visible to other users in ps: prefer --askpass or REDISCLI_AUTH).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" askpass' -l 'askpass' -d 'Read the password from the terminal, without echo.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" connect-timeout' -l 'connect-timeout' -d 'Give up connecting after this long.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" timeout' -l 'timeout' -d 'Give up when Redis does not answer for this long (0: wait for ever; watch uses --heartbeat).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch"' -l 'sentinel' -d 'Ask this Redis Sentinel for the master (repeatable; port 26379 by default; needs --master).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" master' -l 'master' -d 'The name the sentinels know the master by (with --sentinel).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" f format' -s 'f' -l 'format' -d 'text, json (JSON Lines), raw (payload bytes), or a template like \'{time} {channel}: {message}\'.' -rfka 'text json raw {time} {channel}: {message}'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" json' -l 'json' -d 'Same as --format json.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" 0 null' -s '0' -l 'null' -d 'With --format raw: end each payload with NUL, not newline.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" local' -l 'local' -d 'Print local times in text and templates (JSON stays UTC).'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" archive-key' -l 'archive-key' -d 'Archive key template; * stands for the channel (default *:archive; env ROOMWARDEN_ARCHIVE_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" backlog-key' -l 'backlog-key' -d 'List backlog key template, read where a room has no archive key; * stands for the channel (default *:backlog; env ROOMWARDEN_BACKLOG_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch"' -s 'c' -l 'channel' -d 'Also SUBSCRIBE to this channel (repeatable).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch"' -l 'ignore' -d 'Leave out channels matching this glob (repeatable).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" grep' -l 'grep' -d 'Print only messages matching this extended regular expression (as grep -E).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" i ignore-case' -s 'i' -l 'ignore-case' -d 'With --grep: ignore case, as grep -i.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" count n' -s 'n' -l 'count' -d 'Exit after N messages.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" wait' -l 'wait' -d 'Exit when no message came for this long (exit 1 if --count was not reached).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" duration' -l 'duration' -d 'Exit after this long.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" buffer' -l 'buffer' -d 'Most memory for messages not yet printed.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" heartbeat' -l 'heartbeat' -d 'PING the server after this long without traffic.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" no-reconnect' -l 'no-reconnect' -d 'Exit 69 when the connection is lost instead of reconnecting.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" archive' -l 'archive' -d 'Also write every observed message to its room\'s archive.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" sharded' -l 'sharded' -d 'Also print sharded pub/sub messages (SPUBLISH, Redis 7): SSUBSCRIBE to the shard channels matching the patterns, on each shard\'s primary.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" since' -l 'since' -d 'First replay the rooms\' archives from this time (as for history --since), then go on live.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" version' -l 'version' -d 'Show the version.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden watch" help' -l 'help' -d 'Show help information.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" u url' -s 'u' -l 'url' -d 'Server URL: redis://[user[:pass]@]host[:port][/db], unix:///path.sock[?db=N] or redis-sentinel://[[user:]pass@]host[:port][,host[:port]...][/db]#MASTER (env REDIS_URL).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" h host' -s 'h' -l 'host' -d 'Server host (default 127.0.0.1).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" p port' -s 'p' -l 'port' -d 'Server port (default 6379).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" s socket' -s 's' -l 'socket' -d 'Server unix socket (beats host and port).' -rF
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" db' -l 'db' -d 'Database number (default 0).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" user' -l 'user' -d 'ACL user name (needs a password).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" a pass' -s 'a' -l 'pass' -d 'Password (visible to other users in ps: prefer --askpass or REDISCLI_AUTH).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" askpass' -l 'askpass' -d 'Read the password from the terminal, without echo.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" connect-timeout' -l 'connect-timeout' -d 'Give up connecting after this long.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" timeout' -l 'timeout' -d 'Give up when Redis does not answer for this long (0: wait for ever; watch uses --heartbeat).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish"' -l 'sentinel' -d 'Ask this Redis Sentinel for the master (repeatable; port 26379 by default; needs --master).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" master' -l 'master' -d 'The name the sentinels know the master by (with --sentinel).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" archive-key' -l 'archive-key' -d 'Archive key template; * stands for the channel (default *:archive; env ROOMWARDEN_ARCHIVE_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" backlog-key' -l 'backlog-key' -d 'List backlog key template, read where a room has no archive key; * stands for the channel (default *:backlog; env ROOMWARDEN_BACKLOG_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" 0 null' -s '0' -l 'null' -d 'Stdin messages are separated by NUL bytes, not newlines.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" whole' -l 'whole' -d 'Publish all of stdin as one message.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" retain' -l 'retain' -d 'Drop archive entries older than this (e.g. 7d).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" max-len' -l 'max-len' -d 'Keep at most this many archive entries.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" retry-for' -l 'retry-for' -d 'After a lost connection, reconnect and resume for up to this long; 0 gives up at once.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" no-archive' -l 'no-archive' -d 'Publish only; write nothing to the archive.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" from' -l 'from' -d 'The publisher\'s name, stored in the envelope.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" f format' -s 'f' -l 'format' -d 'Output: text (receivers) or json (one object per message).' -rfka 'text json'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" json' -l 'json' -d 'Same as --format json.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" q quiet' -s 'q' -l 'quiet' -d 'Print nothing.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" version' -l 'version' -d 'Show the version.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden publish" help' -l 'help' -d 'Show help information.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" u url' -s 'u' -l 'url' -d 'Server URL: redis://[user[:pass]@]host[:port][/db], unix:///path.sock[?db=N] or redis-sentinel://[[user:]pass@]host[:port][,host[:port]...][/db]#MASTER (env REDIS_URL).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" h host' -s 'h' -l 'host' -d 'Server host (default 127.0.0.1).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" p port' -s 'p' -l 'port' -d 'Server port (default 6379).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" s socket' -s 's' -l 'socket' -d 'Server unix socket (beats host and port).' -rF
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" db' -l 'db' -d 'Database number (default 0).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" user' -l 'user' -d 'ACL user name (needs a password).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" a pass' -s 'a' -l 'pass' -d 'Password (visible to other users in ps: prefer --askpass or REDISCLI_AUTH).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" askpass' -l 'askpass' -d 'Read the password from the terminal, without echo.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" connect-timeout' -l 'connect-timeout' -d 'Give up connecting after this long.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" timeout' -l 'timeout' -d 'Give up when Redis does not answer for this long (0: wait for ever; watch uses --heartbeat).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history"' -l 'sentinel' -d 'Ask this Redis Sentinel for the master (repeatable; port 26379 by default; needs --master).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" master' -l 'master' -d 'The name the sentinels know the master by (with --sentinel).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" f format' -s 'f' -l 'format' -d 'text, json (JSON Lines), raw (payload bytes), or a template like \'{time} {channel}: {message}\'.' -rfka 'text json raw {time} {channel}: {message}'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" json' -l 'json' -d 'Same as --format json.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" 0 null' -s '0' -l 'null' -d 'With --format raw: end each payload with NUL, not newline.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" local' -l 'local' -d 'Print local times in text and templates (JSON stays UTC).'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" archive-key' -l 'archive-key' -d 'Archive key template; * stands for the channel (default *:archive; env ROOMWARDEN_ARCHIVE_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" backlog-key' -l 'backlog-key' -d 'List backlog key template, read where a room has no archive key; * stands for the channel (default *:backlog; env ROOMWARDEN_BACKLOG_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" since' -l 'since' -d 'From this time on (inclusive).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" until' -l 'until' -d 'Up to this time (exclusive).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" last' -l 'last' -d 'Only the newest N in the window (printed oldest first).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" limit' -l 'limit' -d 'Stop after N messages.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" reverse' -l 'reverse' -d 'Newest first.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" follow' -l 'follow' -d 'After the archive, go on with live messages (no gap, no duplicate).'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" grep' -l 'grep' -d 'Only messages matching this extended regular expression (as grep -E, and watch --grep).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" i ignore-case' -s 'i' -l 'ignore-case' -d 'With --grep: ignore case, as grep -i.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history"' -l 'from' -d 'Only messages from this sender (the envelope\'s from; repeatable).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history"' -l 'ignore' -d 'Leave out rooms matching this glob (repeatable).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" delete' -l 'delete' -d 'Remove from the archives exactly the entries printed (asks first on a terminal).'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" all' -l 'all' -d 'With --delete: allow it without a window, filter or count (every entry read is removed).'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" yes' -l 'yes' -d 'With --delete: remove without asking (needed when stdin is not a terminal).'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" score-unit' -l 'score-unit' -d 'Scores of entries that are not roomwarden envelopes: s, ms, or auto (below 1e11 is seconds).' -rfka 's ms auto'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" version' -l 'version' -d 'Show the version.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden history" help' -l 'help' -d 'Show help information.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" u url' -s 'u' -l 'url' -d 'Server URL: redis://[user[:pass]@]host[:port][/db], unix:///path.sock[?db=N] or redis-sentinel://[[user:]pass@]host[:port][,host[:port]...][/db]#MASTER (env REDIS_URL).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" h host' -s 'h' -l 'host' -d 'Server host (default 127.0.0.1).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" p port' -s 'p' -l 'port' -d 'Server port (default 6379).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" s socket' -s 's' -l 'socket' -d 'Server unix socket (beats host and port).' -rF
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" db' -l 'db' -d 'Database number (default 0).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" user' -l 'user' -d 'ACL user name (needs a password).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" a pass' -s 'a' -l 'pass' -d 'Password (visible to other users in ps: prefer --askpass or REDISCLI_AUTH).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" askpass' -l 'askpass' -d 'Read the password from the terminal, without echo.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" connect-timeout' -l 'connect-timeout' -d 'Give up connecting after this long.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" timeout' -l 'timeout' -d 'Give up when Redis does not answer for this long (0: wait for ever; watch uses --heartbeat).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats"' -l 'sentinel' -d 'Ask this Redis Sentinel for the master (repeatable; port 26379 by default; needs --master).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" master' -l 'master' -d 'The name the sentinels know the master by (with --sentinel).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" archive-key' -l 'archive-key' -d 'Archive key template; * stands for the channel (default *:archive; env ROOMWARDEN_ARCHIVE_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" backlog-key' -l 'backlog-key' -d 'List backlog key template, read where a room has no archive key; * stands for the channel (default *:backlog; env ROOMWARDEN_BACKLOG_KEY).' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" window' -l 'window' -d 'Comma-separated windows to count messages in.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" top' -l 'top' -d 'Show only the first N rooms.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" sort' -l 'sort' -d 'Order rooms by messages (most active first), subscribers, name, or last (most recent first).' -rfka 'messages subscribers name last'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" f format' -s 'f' -l 'format' -d 'text (a table) or json (one object).' -rfka 'text json'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" json' -l 'json' -d 'Same as --format json.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" watch' -l 'watch' -d 'Refresh every INTERVAL, in place on a terminal, one report per interval otherwise.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" sample' -l 'sample' -d 'Listen this long first and report live messages per room and second.' -rfka ''
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" version' -l 'version' -d 'Show the version.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden stats" help' -l 'help' -d 'Show help information.'
complete -c 'roomwarden' -n '__roomwarden_should_offer_completions_for_flags_or_options "roomwarden help" version' -l 'version' -d 'Show the version.'
