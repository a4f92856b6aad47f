// Artillery processor for get-record.yml: each virtual user reads the next
// id, so ids 1, 2, 3, ... are read in the order they were created.
let counter = 0;

function getNewRecord(userContext, events, done) {
  counter += 1;
  userContext.vars.id = counter;
  return done();
}

module.exports = { getNewRecord };
