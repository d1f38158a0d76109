// The one translation unit that compiles Boost.Asio, Asio SSL, Beast and Process v2. Every other
// TU sees them as declarations only (BOOST_*_SEPARATE_COMPILATION), which keeps builds affordable.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/process/v2/src.hpp>
