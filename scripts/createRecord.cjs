// Artillery processor for create-record.yml: each virtual user gets the next
// integer id and a fake person, as the reference scenario's records have.
const { faker } = require('@faker-js/faker');

let counter = 0;

function createNewRecord(userContext, events, done) {
  counter += 1;
  const firstName = faker.person.firstName();
  const lastName = faker.person.lastName();
  userContext.vars.id = counter;
  userContext.vars.firstName = firstName;
  userContext.vars.lastName = lastName;
  userContext.vars.email = `${firstName}.${lastName}@email.com`;
  userContext.vars.street = faker.location.street();
  userContext.vars.postcode = faker.location.zipCode();
  return done();
}

module.exports = { createNewRecord };
